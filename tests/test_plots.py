"""Plots of a search workdir: which PNGs are written, what they show, the genotype graph."""

import itertools
import json
import shutil
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image

from nasjax.analysis import cell_graph, genotype_figures, plots, sr_genotype
from nasjax.analysis.cell_graph import OP_COLORS, color_distance, op_colors
from nasjax.config import search_config
from nasjax.infra.jsonfiles import write_json
from nasjax.run.records import AlphaHistory, MetricWriter
from nasjax.spaces import get_space
from nasjax.spaces.darts import space as darts_space
from nasjax.spaces.darts.genotype import DARTS_OPS, DARTS_V2
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype
from nasjax.spaces.sr import space as sr_space
from nasjax.spaces.sr.dlsr_encoding import DLSR_OPS, DLSRGenotype
from nasjax.spaces.sr.imdn import IMDNGenotype
from nasjax.spaces.sr.ops import SR_OPS
from nasjax.spaces.trellis import space_config as trellis_config
from nasjax.spaces.trellis.genotype import TrellisGenotype

NB201_CELL = NB201Genotype.from_edges(
  ["nor_conv_3x3", "none", "skip_connect", "nor_conv_1x1", "none", "avg_pool_3x3"]
)
EPOCHS = 6


def _probs(shapes, epoch):
  """Deterministic op probabilities that drift with the epoch (softmax of seeded logits)."""
  out = {}
  for k, (name, shape) in enumerate(sorted(shapes.items())):
    logits = np.random.default_rng(k).normal(size=shape) * 0.3 * epoch
    z = np.exp(logits - logits.max(-1, keepdims=True))
    out[name] = z / z.sum(-1, keepdims=True)
  return out


#: ``config.space`` of every space as a search records it (small where it can be).
SPACE_CONFIGS = {
  "nb201": lambda: search_config().space.to_dict(),
  "darts": lambda: {"name": "darts", **darts_space.DEFAULTS},
  "s1": lambda: {"name": "darts", **darts_space.DEFAULTS, "op_set": "s1"},
  "imdn": lambda: {**sr_space.default_space_config("imdn", 2), **sr_space.runlocal_space("imdn")},
  "imdn_per_block": lambda: {
    **sr_space.default_space_config("imdn", 2),
    **sr_space.runlocal_space("imdn"),
    "share_alpha": False,
    "num_blocks": 3,
  },
  "dlsr": lambda: {**sr_space.default_space_config("dlsr", 2), **sr_space.runlocal_space("dlsr")},
  "trellis": lambda: {
    **trellis_config.default_space_config(),
    **trellis_config.runlocal_space(),
  },
}


def _space(kind):
  """The registered space and ``config.space`` of one of :data:`SPACE_CONFIGS`."""
  cfg = ml_collections.ConfigDict(json.loads(json.dumps(dict(SPACE_CONFIGS[kind]()))))
  return get_space(cfg.name), cfg


def _write_workdir(path, shapes, op_names, genotype, eig=True, disc=True, stop=True, space=None):
  """A workdir as a search writes it, through nasjax.run.records' writers.

  ``space`` (a key of :data:`SPACE_CONFIGS`) writes the search's ``config.json``.
  """
  path.mkdir(parents=True, exist_ok=True)
  if space is not None:
    write_json(path / "config.json", {"space": SPACE_CONFIGS[space]()})
  history = AlphaHistory(path, op_names)
  writer = MetricWriter(path)
  for epoch in range(1, EPOCHS + 1):
    probs = _probs(shapes, epoch)
    history.append(epoch, 10 * epoch, {k: np.log(v) for k, v in probs.items()}, probs)
    writer.write(10 * epoch - 5, epoch - 1, "train", {"loss": 1.0, "hessian/max_eig": -1.0})
    scalars = {"loss": 1.0 / epoch}
    if eig:
      scalars["hessian/max_eig"] = 0.1 * epoch**2
    if disc:
      scalars.update(
        {
          "discretization/supernet_acc": 0.4 + 0.05 * epoch,
          "discretization/derived_acc": 0.2 + 0.06 * epoch,
          "discretization/derived_recal_acc": 0.35 + 0.055 * epoch,
          "discretization/gap": 0.2 - 0.01 * epoch,
        }
      )
    writer.write(10 * epoch, epoch, "epoch", scalars)
  writer.close()
  if stop:
    write_json(path / "early_stop.json", {"epoch": 5, "selected_epoch": 2, "window": 3})
  write_json(path / "genotype.json", {"genotype": genotype.to_dict(), "step": 60})
  return path


@pytest.fixture(scope="module")
def nb201_workdir(tmp_path_factory):
  path = tmp_path_factory.mktemp("nb201")
  return _write_workdir(path, {"cell": (6, 5)}, NB201_OPS, NB201_CELL, space="nb201")


@pytest.fixture(scope="module")
def darts_workdir(tmp_path_factory):
  shapes = {"normal": (14, 8), "reduce": (14, 8)}
  return _write_workdir(
    tmp_path_factory.mktemp("darts"), shapes, DARTS_OPS, DARTS_V2, space="darts"
  )


@pytest.fixture
def no_graphviz(monkeypatch):
  monkeypatch.setattr(cell_graph.shutil, "which", lambda name: None)


def _check_png(path, min_size=(400, 250)):
  assert path.is_file() and path.suffix == ".png"
  with Image.open(path) as im:
    im.load()
    w, h = im.size
    assert min_size[0] <= w <= 4000 and min_size[1] <= h <= 4000
    colours = np.asarray(im.convert("RGB")).reshape(-1, 3)
  assert len(np.unique(colours, axis=0)) > 20  # drawn, not blank


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_every_figure_is_written_and_decodes(space, nb201_workdir, darts_workdir, no_graphviz):
  workdir = {"nb201": nb201_workdir, "darts": darts_workdir}[space]
  written = plots.make_plots(workdir)
  names = {"alphas", "eigenvalue", "discretization", "margin", "genotype"}
  assert set(written) == names
  for name, path in written.items():
    assert path == workdir / "plots" / f"{name}.png"
    _check_png(path)
  with Image.open(written["alphas"]) as im:  # DARTS: 28 panels, readable at this size
    assert im.size[1] > (1200 if space == "darts" else 500)
  # The same files give the same images.
  before = {k: p.read_bytes() for k, p in written.items()}
  again = plots.make_plots(workdir, out_dir=workdir / "again")
  assert {k: p.read_bytes() for k, p in again.items()} == before


def test_alphas_figure_shows_every_edge_and_the_recorded_probabilities(darts_workdir):
  with np.load(darts_workdir / "alphas.npz") as d:
    epochs, probs = d["epoch"], {k: d[k] for k in ("normal", "reduce")}
  labels = plots.alpha_labels(plots.workdir_space(darts_workdir), probs, list(DARTS_OPS))
  fig = plots.plot_alphas(epochs, probs, list(DARTS_OPS), *labels)
  panels = [ax for sub in fig.subfigs for ax in sub.axes if ax.get_visible()]
  assert len(panels) == 28
  titles = [ax.get_title() for ax in panels]
  assert titles.count("node 3 ← node 2") == 2 and titles.count("node 0 ← $c_{k-2}$") == 2
  assert [sub._suptitle.get_text() for sub in fig.subfigs] == [
    "normal cell: op probabilities per edge",
    "reduction cell: op probabilities per edge",
  ]
  first = panels[0]  # normal cell, node 0 <- c_{k-2}
  uniform, *lines = first.lines  # the dotted uniform probability, then one line per op
  assert uniform.get_linestyle() == ":" and np.allclose(uniform.get_ydata(), 1 / 8)
  assert len(lines) == 8
  for o, line in enumerate(lines):
    assert np.array_equal(line.get_xdata(), epochs)
    assert np.allclose(line.get_ydata(), probs["normal"][:, 0, o])
  legend = [t.get_text() for t in fig.legends[0].get_texts()]
  assert legend == [*DARTS_OPS, "uniform (1/8)"]


def test_margin_is_top1_minus_top2_per_edge(darts_workdir):
  p = np.array([[[0.5, 0.2, 0.3], [0.1, 0.1, 0.8]], [[0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]])
  assert np.allclose(plots.top2_margin(p), [[0.2, 0.7], [0.0, 1.0]])
  with np.load(darts_workdir / "alphas.npz") as d:
    epochs, probs = d["epoch"], {k: d[k] for k in ("normal", "reduce")}
  edges, _ = plots.alpha_labels(plots.workdir_space(darts_workdir), probs, list(DARTS_OPS))
  fig = plots.plot_margins(epochs, probs, edges)
  normal, reduce = fig.axes
  assert len(normal.lines) == len(reduce.lines) == 14
  sorted_p = np.sort(probs["reduce"][:, 13], axis=-1)
  assert np.allclose(reduce.lines[13].get_ydata(), sorted_p[:, -1] - sorted_p[:, -2])
  assert reduce.get_legend().get_texts()[13].get_text() == "node 3 ← node 2"
  assert reduce.get_title() == "reduction cell:\ntop-2 probability margin per edge"


def test_eigenvalue_figure_marks_the_darts_es_stop(nb201_workdir):
  series = plots.epoch_series(nb201_workdir, ["hessian/max_eig", "absent/key"])
  assert list(series) == ["hessian/max_eig"]  # train records and absent keys are left out
  epochs, values = series["hessian/max_eig"]
  assert epochs.tolist() == list(range(1, EPOCHS + 1))
  assert np.allclose(values, 0.1 * epochs**2)
  stop = json.loads((nb201_workdir / "early_stop.json").read_text())
  ax = plots.plot_eigenvalue(epochs, values, stop).axes[0]
  curve, stop_line, selected_line = ax.lines
  assert np.allclose(curve.get_ydata(), values)
  assert list(stop_line.get_xdata()) == [5, 5] and list(selected_line.get_xdata()) == [2, 2]
  assert "epoch 5" in stop_line.get_label() and "epoch 2" in selected_line.get_label()
  assert len(plots.plot_eigenvalue(epochs, values, None).axes[0].lines) == 1


def test_a_later_record_of_an_epoch_replaces_an_earlier_one(tmp_path):
  lines = [
    {"step": 10, "epoch": 1, "kind": "epoch", "hessian/max_eig": 1.0},
    {"step": 20, "epoch": 2, "kind": "epoch", "hessian/max_eig": 2.0},
    {"step": 10, "epoch": 1, "kind": "epoch", "hessian/max_eig": 3.0},
  ]
  text = "\n".join(json.dumps(r) for r in lines) + '\n{"step": 30, "epo'  # cut by a kill
  (tmp_path / "metrics.jsonl").write_text(text)
  epochs, values = plots.epoch_series(tmp_path, ["hessian/max_eig"])["hessian/max_eig"]
  assert epochs.tolist() == [1, 2] and values.tolist() == [3.0, 2.0]


def test_discretization_figure_plots_accuracies_in_percent_and_the_gap(nb201_workdir):
  series = plots.epoch_series(nb201_workdir, list(plots._DISCRETIZATION))
  fig = plots.plot_discretization(series)
  left, right = fig.axes
  assert [line.get_label() for line in left.lines][:3] == [
    "supernet",
    "derived network (inherited BN)",
    "derived network (BN recalibrated)",
  ]
  assert np.allclose(left.lines[0].get_ydata(), 100 * (0.4 + 0.05 * np.arange(1, EPOCHS + 1)))
  gap = [line for line in right.lines if line.get_label() == "supernet − derived"][0]
  assert np.allclose(gap.get_ydata(), 100 * (0.2 - 0.01 * np.arange(1, EPOCHS + 1)))
  assert left.get_ylabel() == "accuracy (%)"


def test_missing_sources_skip_their_figures(tmp_path, no_graphviz):
  assert plots.make_plots(tmp_path / "empty") == {}
  workdir = _write_workdir(
    tmp_path / "run", {"cell": (6, 5)}, NB201_OPS, NB201_CELL, eig=False, disc=False, stop=True
  )
  (workdir / "genotype.json").unlink()
  written = plots.make_plots(workdir)
  assert set(written) == {"alphas", "margin"}
  assert sorted(p.name for p in (workdir / "plots").iterdir()) == ["alphas.png", "margin.png"]
  only_genotype = tmp_path / "genotype_only"
  only_genotype.mkdir()
  write_json(only_genotype / "genotype.json", {"genotype": DARTS_V2.to_dict()})
  assert set(plots.make_plots(only_genotype, out_dir=tmp_path / "figs")) == {"genotype"}
  _check_png(tmp_path / "figs" / "genotype.png")


def test_nb201_genotype_graph():
  assert cell_graph.genotype_graph(NB201_CELL) == [
    ("0", "1", "nor_conv_3x3"),
    ("1", "2", "skip_connect"),
    ("0", "3", "nor_conv_1x1"),
    ("2", "3", "avg_pool_3x3"),
  ]
  full = cell_graph.genotype_graph(NB201_CELL, include_none=True)
  assert ("0", "2", "none") in full and ("1", "3", "none") in full and len(full) == 6


def test_darts_genotype_graph():
  # DARTS_V2 by hand: inputs 0, 1 are c_{k-2}, c_{k-1}; input j >= 2 is node j - 2.
  n, r = "normal/", "reduce/"
  concat = [(f"{c}{k}", f"{c}c_{{k}}", "concat") for c in (n, r) for k in range(4)]
  assert cell_graph.genotype_graph(DARTS_V2) == [
    (n + "c_{k-2}", n + "0", "sep_conv_3x3"),
    (n + "c_{k-1}", n + "0", "sep_conv_3x3"),
    (n + "c_{k-2}", n + "1", "sep_conv_3x3"),
    (n + "c_{k-1}", n + "1", "sep_conv_3x3"),
    (n + "c_{k-1}", n + "2", "sep_conv_3x3"),
    (n + "c_{k-2}", n + "2", "skip_connect"),
    (n + "c_{k-2}", n + "3", "skip_connect"),
    (n + "0", n + "3", "dil_conv_3x3"),
    *concat[:4],
    (r + "c_{k-2}", r + "0", "max_pool_3x3"),
    (r + "c_{k-1}", r + "0", "max_pool_3x3"),
    (r + "0", r + "1", "skip_connect"),
    (r + "c_{k-1}", r + "1", "max_pool_3x3"),
    (r + "c_{k-2}", r + "2", "max_pool_3x3"),
    (r + "0", r + "2", "skip_connect"),
    (r + "0", r + "3", "skip_connect"),
    (r + "c_{k-1}", r + "3", "max_pool_3x3"),
    *concat[4:],
  ]


def test_genotype_dot_source():
  source = cell_graph.genotype_dot(NB201_CELL)
  assert source.startswith("digraph genotype {") and source.rstrip().endswith("}")
  assert '"0" -> "1" [label="nor_conv_3x3"' in source
  assert '"0" -> "2" [label="none"' in source and source.count("style=dashed") == 2
  darts = cell_graph.genotype_dot(DARTS_V2)
  assert darts.count(" -> ") == 2 * (8 + 4)
  assert '"normal/0" -> "normal/3" [label="dil_conv_3x3"' in darts
  assert '"reduce/3" -> "reduce/c_{k}" [color=gray50]' in darts
  assert "normal cell" in darts and "reduction cell" in darts


def _fake_dot(tmp_path, body):
  script = tmp_path / "bin" / "dot"
  script.parent.mkdir()
  script.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
  script.chmod(0o755)
  return str(script)


def test_graphviz_renders_the_dot_source_when_dot_exists(tmp_path, monkeypatch):
  # A stand-in for graphviz's dot: records its arguments and writes a PNG.
  fake = _fake_dot(
    tmp_path,
    "from PIL import Image\n"
    "args = sys.argv[1:]\n"
    "open(args[-1] + '.args', 'w').write(' '.join(args))\n"
    "Image.new('RGB', (640, 480), 'white').save(args[args.index('-o') + 1])",
  )
  monkeypatch.setattr(cell_graph.shutil, "which", lambda name: fake if name == "dot" else None)
  write_json(tmp_path / "genotype.json", {"genotype": DARTS_V2.to_dict()})
  written = plots.make_plots(tmp_path)
  assert set(written) == {"genotype", "genotype_dot"}
  assert written["genotype_dot"].read_text() == cell_graph.genotype_dot(DARTS_V2)
  args = (tmp_path / "plots" / "genotype.dot.args").read_text().split()
  assert args[0] == "-Tpng" and args[args.index("-o") + 1] == str(written["genotype"])
  with Image.open(written["genotype"]) as im:
    assert im.size == (640, 480)


def test_a_failing_dot_falls_back_to_matplotlib(tmp_path, monkeypatch):
  fake = _fake_dot(tmp_path, "sys.exit('dot: cannot render')")
  monkeypatch.setattr(cell_graph.shutil, "which", lambda name: fake)
  write_json(tmp_path / "genotype.json", {"genotype": NB201_CELL.to_dict()})
  written = plots.make_plots(tmp_path)
  _check_png(written["genotype"])
  assert written["genotype_dot"].is_file()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")
@pytest.mark.parametrize("genotype", [NB201_CELL, DARTS_V2], ids=["nb201", "darts"])
def test_real_graphviz_draws_the_genotype(genotype, tmp_path):
  write_json(tmp_path / "genotype.json", {"genotype": genotype.to_dict()})
  written = plots.make_plots(tmp_path)
  assert set(written) == {"genotype", "genotype_dot"}
  _check_png(written["genotype"], min_size=(300, 150))


def test_the_eigenvalue_plot_reads_analyze_hessian_when_the_search_recorded_none(tmp_path):
  """``nasjax.analyze hessian`` writes analysis/hessian.jsonl; plots draw it and say otherwise."""
  workdir = _write_workdir(
    tmp_path / "run", {"cell": (6, 5)}, NB201_OPS, NB201_CELL, eig=False, disc=False, stop=False
  )
  written = plots.make_plots(workdir)
  assert "eigenvalue" not in written
  (note,) = [n for n in plots.missing_figures(workdir, written) if "eigenvalue" in n]
  assert f"python -m nasjax.analyze hessian --workdir={workdir}" in note
  (workdir / "analysis").mkdir()
  records = [{"epoch": e, "step": 10 * e, "max_eig": 0.5 * e} for e in (3, 1, 2)]
  (workdir / "analysis" / "hessian.jsonl").write_text(
    "".join(json.dumps(r) + "\n" for r in records)
  )
  epochs, values = plots.checkpoint_eigenvalues(workdir)
  assert epochs.tolist() == [1, 2, 3] and values.tolist() == [0.5, 1.0, 1.5]
  written = plots.make_plots(workdir)
  assert "eigenvalue" in written and not plots.missing_figures(workdir, written)
  _check_png(written["eigenvalue"])


def test_near_uniform_alphas_fill_their_panels_and_epochs_are_whole(tmp_path):
  """The y range follows the data (0.199..0.201 is not squashed into 0..0.24); ticks are epochs."""
  epochs = np.arange(1, 4)
  p = np.full((3, 6, 5), 0.2)
  p[:, :, 0] += np.array([0.0, 0.0005, 0.001])[:, None]
  p[:, :, 1] -= np.array([0.0, 0.0005, 0.001])[:, None]
  ax = plots.plot_alphas(epochs, {"cell": p}, list(NB201_OPS)).subfigs[0].axes[0]
  low, high = ax.get_ylim()
  assert 0.19 < low < 0.199 and 0.201 < high < 0.21
  assert all(float(t).is_integer() for t in ax.get_xticks())


def test_twelve_ops_get_twelve_colours():
  """SR spaces have 12 candidate ops; a repeated colour would make two ops one line."""
  names = [f"op_{i}" for i in range(11)] + ["skip_connect"]
  assert len(set(op_colors(names))) == 12
  assert op_colors(["skip_connect"]) == [OP_COLORS["skip_connect"]]


# --- every space: colours, row names, genotype figures -------------------------------------------


def _space_figure(kind):
  """The alpha figure of one epoch-drifting history of space ``kind``, and its row candidates."""
  space, cfg = _space(kind)
  shapes = space.alpha_shapes(cfg)
  epochs = np.arange(1, 4)
  per_epoch = [_probs(shapes, e) for e in epochs]
  probs = {k: np.stack([p[k] for p in per_epoch]) for k in sorted(shapes)}
  op_names = list(space.op_names(cfg))
  edges, row_ops = plots.alpha_labels((space, cfg), probs, op_names)
  return plots.plot_alphas(epochs, probs, op_names, edges, row_ops), probs, edges, row_ops


@pytest.mark.parametrize("kind", ["nb201", "darts", "s1", "imdn", "dlsr", "trellis"])
def test_every_candidate_of_every_space_has_its_own_colour(kind):
  """One colour per candidate in the whole alpha figure, none hard to tell from another.

  The old fallback palette (tab10, then tab20b in order) gave IMDN's
  dil_conv_3x3_bn and dil_conv_5x5_bn two shades of one navy (delta E 14).
  """
  fig, probs, _, row_ops = _space_figure(kind)
  color_of = {}
  for sub, name in zip(fig.subfigs, probs, strict=True):
    panels = [ax for ax in sub.axes if ax.get_visible()]
    assert len(panels) == probs[name].shape[1]
    for ax, ops in zip(panels, row_ops[name], strict=True):
      lines = [line for line in ax.lines if line.get_linestyle() != ":"]
      assert len(lines) == len(ops)
      for op, line in zip(ops, lines, strict=True):
        assert color_of.setdefault(op, line.get_color()) == line.get_color()  # one per op
  colors = list(color_of.values())
  assert len(set(colors)) == len(colors)  # no two candidates share one
  assert min(color_distance(a, b) for a, b in itertools.combinations(colors, 2)) > 20


def test_sr_ops_colours_are_told_apart():
  colors = op_colors(list(SR_OPS))
  assert min(color_distance(a, b) for a, b in itertools.combinations(colors, 2)) > 25
  # Two ops that share a fixed colour in one figure: the later one gets another.
  assert OP_COLORS["nor_conv_3x3"] == OP_COLORS["sep_conv_3x3"]
  a, b = op_colors(["nor_conv_3x3", "sep_conv_3x3"])
  assert a == OP_COLORS["nor_conv_3x3"] and color_distance(a, b) > 20


@pytest.fixture(scope="module")
def imdn_workdir(tmp_path_factory):
  genotype = IMDNGenotype(("sep_conv_5x5", "conv_3x3_bn", "dil_conv_3x3", "conv_5x5"))
  path = tmp_path_factory.mktemp("imdn")
  return _write_workdir(path, {"blocks": (4, 12)}, SR_OPS, genotype, False, False, False, "imdn")


def test_sr_alpha_panels_name_the_convolutions(imdn_workdir):
  found = plots.workdir_space(imdn_workdir)
  epochs, probs, op_names = plots.load_alphas(imdn_workdir, found)
  edges, row_ops = plots.alpha_labels(found, probs, op_names)
  fig = plots.plot_alphas(epochs, probs, op_names, edges, row_ops)
  (sub,) = fig.subfigs
  assert [ax.get_title() for ax in sub.axes] == [
    f"c{i} (shared by all blocks)" for i in (1, 2, 3, 4)
  ]
  assert sub._suptitle.get_text() == (
    "IMDN block convolutions (the network's only block): op probabilities per convolution"
  )
  assert [t.get_text() for t in fig.legends[0].get_texts()] == [*SR_OPS, "uniform (1/12)"]
  (ax,) = plots.plot_margins(epochs, probs, edges).axes
  assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "c1 (shared by all blocks)"
  fig, *_ = _space_figure("imdn_per_block")  # one row of panels per block
  titles = [ax.get_title() for ax in fig.subfigs[0].axes]
  assert titles == [f"block {b} c{i}" for b in range(3) for i in (1, 2, 3, 4)]


def test_sr_genotype_figures_are_written(imdn_workdir, tmp_path):
  written = plots.make_plots(imdn_workdir, out_dir=tmp_path / "imdn")
  assert set(written) == {"alphas", "margin", "genotype"}
  _check_png(written["genotype"])
  assert not [
    n for n in plots.missing_figures(imdn_workdir, written) if n.startswith("no genotype figure")
  ]
  # The block's four searched convolutions, with their ops and channel widths (F=16, d=4).
  genotype = IMDNGenotype(("sep_conv_5x5", "conv_3x3_bn", "dil_conv_3x3", "conv_5x5"))
  _, cfg = _space("imdn")
  texts = [
    t.get_text()
    for ax in sr_genotype.plot_imdn_genotype(genotype, SR_OPS, cfg).axes
    for t in ax.texts
  ]
  assert "c1  16→16\nsep_conv_5x5" in texts and "c4  12→4\nconv_5x5" in texts
  per_block = IMDNGenotype(genotype.ops + ("conv_3x3",) * 4)
  table = sr_genotype.plot_imdn_genotype(per_block, SR_OPS).axes[1]
  assert [t.get_text() for t in table.texts].count("conv_3x3") == 4
  dlsr = DLSRGenotype.from_string("ops=sep_conv_5x5,conv_1x1,sep_conv_3x3;inputs=2+1")
  space, cfg = _space("dlsr")  # three cells: cell 3 reads two of cells 1 and 2
  shapes = space.alpha_shapes(cfg)
  path = _write_workdir(tmp_path / "dlsr", shapes, DLSR_OPS, dlsr, False, False, False, "dlsr")
  written = plots.make_plots(path)
  assert {"alphas", "margin", "genotype"} <= set(written)
  _check_png(written["genotype"])
  texts = [t.get_text() for ax in sr_genotype.plot_dlsr_genotype(dlsr).axes for t in ax.texts]
  assert "step 2\nconv_1x1\n+ residual, LReLU" in texts


def test_a_trellis_genotype_is_drawn_and_a_space_without_a_drawing_is_named(tmp_path, monkeypatch):
  genotype = TrellisGenotype.from_string("trellis:path=0,1,1;cell=skip_connect~0,sep_conv_3x3~1")
  write_json(tmp_path / "genotype.json", {"genotype": genotype.to_dict()})
  written = plots.make_plots(tmp_path)
  assert set(written) == {"genotype"}
  _check_png(written["genotype"])
  monkeypatch.delitem(genotype_figures.GENOTYPE_FIGURES, "trellis")
  written = plots.make_plots(tmp_path, out_dir=tmp_path / "again")
  assert "genotype" not in written
  (note,) = [
    n for n in plots.missing_figures(tmp_path, written) if n.startswith("no genotype figure")
  ]
  assert "no drawing of 'trellis' genotypes" in note and str(genotype) in note


def test_an_old_workdir_with_imdb_alphas_is_plotted_under_the_new_name(tmp_path):
  """Workdirs written before the rename hold 'imdb' in alphas.npz; they read as 'blocks'."""
  genotype = IMDNGenotype(("conv_3x3",) * 4)
  workdir = _write_workdir(
    tmp_path, {"imdb": (4, 12)}, SR_OPS, genotype, False, False, False, "imdn"
  )
  with np.load(workdir / "alphas.npz") as d:
    assert "imdb" in d.files and "blocks" not in d.files
  epochs, probs, _ = plots.load_alphas(workdir)
  assert list(probs) == ["blocks"] and probs["blocks"].shape == (EPOCHS, 4, 12)
  written = plots.make_plots(workdir)
  assert {"alphas", "margin", "genotype"} <= set(written)
  edges, _ = plots.alpha_labels(plots.workdir_space(workdir), probs, list(SR_OPS))
  assert edges["blocks"].rows[0] == "c1 (shared by all blocks)"
  # A search resumed in such a workdir reads the records back under the new name.
  history = AlphaHistory(workdir, SR_OPS, renamed={"imdb": "blocks"})
  assert all(list(r["probs"]) == ["blocks"] for r in history.records)
  history.append(
    EPOCHS + 1, 70, {"blocks": np.zeros((4, 12))}, {"blocks": np.full((4, 12), 1 / 12)}
  )
  with np.load(workdir / "alphas.npz") as d:
    assert d["blocks"].shape == (EPOCHS + 1, 4, 12) and "imdb" not in d.files
