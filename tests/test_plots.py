"""Plots of a search workdir: which PNGs are written, what they show, the genotype graph."""

import json
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

from nasjax.analysis import cell_graph, plots
from nasjax.analysis.cell_graph import OP_COLORS, op_colors
from nasjax.infra.jsonfiles import write_json
from nasjax.run.records import AlphaHistory, MetricWriter
from nasjax.spaces.darts.genotype import DARTS_OPS, DARTS_V2
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype

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


def _write_workdir(path, shapes, op_names, genotype, eig=True, disc=True, stop=True):
  """A workdir as a search writes it, through nasjax.run.records' writers."""
  path.mkdir(parents=True, exist_ok=True)
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
  return _write_workdir(tmp_path_factory.mktemp("nb201"), {"cell": (6, 5)}, NB201_OPS, NB201_CELL)


@pytest.fixture(scope="module")
def darts_workdir(tmp_path_factory):
  shapes = {"normal": (14, 8), "reduce": (14, 8)}
  return _write_workdir(tmp_path_factory.mktemp("darts"), shapes, DARTS_OPS, DARTS_V2)


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
  fig = plots.plot_alphas(epochs, probs, list(DARTS_OPS))
  panels = [ax for sub in fig.subfigs for ax in sub.axes if ax.get_visible()]
  assert len(panels) == 28
  titles = [ax.get_title() for ax in panels]
  assert titles.count("node 3 ← 2") == 2 and titles.count("node 0 ← $c_{k-2}$") == 2
  first = panels[0]  # normal cell, node 0 <- c_{k-2}
  assert len(first.lines) == 8
  for o, line in enumerate(first.lines):
    assert np.array_equal(line.get_xdata(), epochs)
    assert np.allclose(line.get_ydata(), probs["normal"][:, 0, o])
  legend = [t.get_text() for t in fig.legends[0].get_texts()]
  assert legend == list(DARTS_OPS)


def test_margin_is_top1_minus_top2_per_edge(darts_workdir):
  p = np.array([[[0.5, 0.2, 0.3], [0.1, 0.1, 0.8]], [[0.4, 0.4, 0.2], [1.0, 0.0, 0.0]]])
  assert np.allclose(plots.top2_margin(p), [[0.2, 0.7], [0.0, 1.0]])
  with np.load(darts_workdir / "alphas.npz") as d:
    epochs, probs = d["epoch"], {k: d[k] for k in ("normal", "reduce")}
  fig = plots.plot_margins(epochs, probs)
  normal, reduce = fig.axes
  assert len(normal.lines) == len(reduce.lines) == 14
  sorted_p = np.sort(probs["reduce"][:, 13], axis=-1)
  assert np.allclose(reduce.lines[13].get_ydata(), sorted_p[:, -1] - sorted_p[:, -2])
  assert reduce.get_legend().get_texts()[13].get_text() == "node 3 ← 2"


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
