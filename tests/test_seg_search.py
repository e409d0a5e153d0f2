"""Segmentation search end to end: configs, entropy on alpha and beta, search, both read-outs."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO, data_dir

from nasjax import evaluate_seg, search, select
from nasjax.config import search as cfg_lib
from nasjax.config import seg as seg_config
from nasjax.config.select import validate_select_config
from nasjax.core.regularizers import entropy, make_regularizer
from nasjax.errors import ConfigError
from nasjax.spaces.saved import load_network
from nasjax.tasks.segmentation import retrain as seg_retrain

SEG_CONFIGS = sorted((REPO / "configs" / "seg").glob("*.py"))
SEARCHES = [p for p in SEG_CONFIGS if p.stem.startswith("search_")]


def _load(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_seg_config_of_the_issue_exists():
  assert {p.stem for p in SEG_CONFIGS} >= {
    "search_darts",
    "search_entropy_const",
    "search_entropy_linear",
    "single_stage",
    "two_stage_retrain",
  }


@pytest.mark.parametrize("path", SEARCHES, ids=lambda p: p.stem)
def test_seg_search_configs_validate_with_the_auto_deeplab_recipe(path):
  module = _load(path)
  rel = path.relative_to(REPO).as_posix()
  assert f"--config={rel}:runlocal" in module.__doc__
  full, local = module.get_config(), module.get_config("runlocal")
  for c in (full, local, module.get_config("camvid")):
    cfg_lib.validate_search_config(c)
  assert (full.epochs, full.optimizer.alpha.warmup_epochs, full.data.crop_size) == (40, 20, 321)
  assert (full.optimizer.weights.lr, full.optimizer.weights.lr_min) == (0.025, 0.001)
  assert (full.optimizer.alpha.lr, full.optimizer.alpha.weight_decay) == (3e-3, 1e-3)
  assert full.data.name == "cityscapes" and full.space.num_classes == 19
  assert local.data.name == "camvid" and local.space.num_classes == 11
  schedule = {"search_darts": None, "search_entropy_const": "constant"}.get(path.stem, "linear")
  assert full.regularizers.entropy.enabled == (schedule is not None)
  if schedule:
    assert full.regularizers.entropy.schedule == schedule


def test_readout_configs_validate():
  single = _load(REPO / "configs" / "seg" / "single_stage.py")
  for c in (single.get_config(), single.get_config("runlocal")):
    validate_select_config(c, "single_stage")
    assert c.single_stage.both_halves and c.single_stage.prune_threshold > 0
  retrain = _load(REPO / "configs" / "seg" / "two_stage_retrain.py")
  for arg in (None, "runlocal", "camvid"):
    seg_config.validate_seg_retrain_config(retrain.get_config(arg))


def test_seg_config_errors_name_the_fix():
  c = seg_config.method_config("runlocal")
  c.space.num_classes = 19
  with pytest.raises(ConfigError, match="num_classes"):
    cfg_lib.validate_search_config(c)
  c = seg_config.method_config("runlocal")
  c.regularizers.entropy.tensors = ("cells",)
  with pytest.raises(ConfigError, match=r"entropy\.tensors.*choose from"):
    cfg_lib.validate_search_config(c)
  with pytest.raises(ConfigError, match="unknown variant|variant"):
    seg_config.method_config("runlcoal")
  r = seg_config.seg_retrain_config("runlocal")
  r.optimizer.power = -1.0
  with pytest.raises(ConfigError, match="power"):
    seg_config.validate_seg_retrain_config(r)


def test_entropy_on_alpha_beta_or_both_by_hand():
  alphas = {
    "cell": jnp.log(jnp.array([[0.5, 0.5, 1e-9], [1.0, 1e-9, 1e-9]])),
    "network2": jnp.log(jnp.array([[0.25, 0.75]])),
    "network3": jnp.zeros((2, 3)),
  }
  probs = lambda a: {k: jax.nn.softmax(v, axis=-1) for k, v in a.items()}  # noqa: E731
  h_cell = np.log(2.0)
  h_net = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) + 2 * np.log(3.0)
  for tensors, expected in (
    ((), h_cell + h_net),
    (("cell",), h_cell),
    (("network2", "network3"), h_net),
  ):
    cfg = {"entropy": {"strength": 2.0, "apply_to": "probs", "tensors": tensors}}
    total, parts = make_regularizer(cfg, 10, probs)(alphas, jnp.asarray(3))
    assert np.isclose(float(total), 2.0 * expected, atol=1e-5), tensors
  assert np.isclose(float(entropy(jnp.full((1, 4), 0.25))), np.log(4.0))
  # linear scaling: lambda_t = strength * t / epochs
  cfg = {"entropy": {"strength": 1.0, "schedule": "linear", "apply_to": "probs"}}
  _, parts = make_regularizer(cfg, 10, probs)(alphas, jnp.asarray(4))
  assert np.isclose(float(parts["reg/entropy_lambda"]), 0.4)


#: A trellis small enough to compile in seconds on a 2-core CPU (runlocal's takes minutes).
TINY = dict(layers=2, blocks=1, levels=2)


@pytest.fixture(scope="module")
def seg_runs(tmp_path_factory):
  """A runlocal trellis search with entropy, its single-stage (pruned) and argmax read-outs."""
  data_dir()
  root = tmp_path_factory.mktemp("seg")
  config = _load(REPO / "configs" / "seg" / "search_entropy_linear.py").get_config("runlocal")
  config.space.update(TINY)
  config.progress_bar = False
  result = search.run(config, root / "search")
  single_cfg = _load(REPO / "configs" / "seg" / "single_stage.py").get_config("runlocal")
  single_cfg.single_stage.epochs = 1
  # alpha has barely left uniform (1/8 per op) after a few steps: prune the ops below it
  single_cfg.single_stage.prune_threshold = 0.125
  single_cfg.progress_bar = False
  single = select.run(single_cfg, root / "search", "single_stage")
  chosen = select.run(select.select_config(), root / "search", "argmax")
  return root, config, result, single, chosen


def test_runlocal_search_logs_gap_and_entropy_and_decodes_a_path(seg_runs):
  root, config, result, _, chosen = seg_runs
  g = result.genotype
  assert g.space == "trellis" and len(g.path) == config.space.layers
  steps = zip(g.path, g.path[1:], strict=False)
  assert g.path[0] in (0, 1) and all(abs(a - b) <= 1 for a, b in steps)
  records = [json.loads(line) for line in (root / "search" / "metrics.jsonl").open()]
  epochs = [r for r in records if r["kind"] == "epoch"]
  assert len(epochs) == config.epochs
  for r in epochs:
    assert np.isfinite(r["discretization/gap"]) and 0 <= r["test/pixel_acc"] <= 1
    assert r["reg/entropy"] >= 0
  assert epochs[-1]["reg/entropy_lambda"] > epochs[0]["reg/entropy_lambda"]
  assert chosen.record["genotype"] == g.to_dict()


def test_single_stage_prunes_fine_tunes_and_scores_miou(seg_runs):
  root, _, _, single, _ = seg_runs
  rec = single.record
  final = json.loads((root / "search" / "select" / "single_stage" / "final.json").read_text())
  assert final["test_miou"] == rec["test_miou"] and 0 <= rec["test_miou"] <= 1
  p = rec["pruning"]
  assert p["ops"] > 0 and p["threshold"] == 0.125
  assert p["multiply_adds_after"] < p["multiply_adds_before"]
  assert p["params_after"] < p["params_before"]
  assert np.isclose(p["saved_fraction"], 1 - p["multiply_adds_after"] / p["multiply_adds_before"])
  assert rec["cost_shape"] == [1024, 2048, 3]


def test_evaluate_seg_table_matches_an_independent_confusion_matrix(seg_runs, tmp_path, capsys):
  root, config, _, single, _ = seg_runs
  evaluate_seg.main([f"--workdir={root / 'search'}", f"--output={tmp_path}"])
  (row,) = json.loads((tmp_path / "seg_table.json").read_text())["rows"]
  assert np.isclose(row["miou"], single.record["test_miou"], atol=1e-6)
  # again by hand: whole images through the saved network, numpy confusion matrix
  from nasjax.tasks.segmentation import data as seg_data

  net = load_network(root / "search" / "select" / "single_stage" / "network")
  train, test = seg_data.load_seg_dataset(config.data)
  images, labels = seg_data.SegTrainData(train, config.data, 0, 1, test=test).test_set()
  conf = np.zeros((11, 11), np.int64)
  for image, label in zip(images, labels, strict=True):
    pred = np.asarray(jnp.argmax(net(seg_data.normalize_images(image)[None]), axis=-1))[0]
    keep = np.asarray(label) != 255
    np.add.at(conf, (np.asarray(label)[keep], pred[keep]), 1)
  union = conf.sum(0) + conf.sum(1) - np.diag(conf)
  iou = np.diag(conf)[union > 0] / union[union > 0]
  assert np.isclose(row["miou"], iou.mean(), atol=1e-6)
  assert np.isclose(row["pixel_acc"], np.trace(conf) / conf.sum(), atol=1e-6)
  md = (tmp_path / "seg_table.md").read_text()
  assert f"{100 * row['miou']:.2f}" in md
  printed = capsys.readouterr().out.strip().splitlines()
  assert printed[-2] == md.strip().splitlines()[-1]  # the table, then where it was written
  assert printed[-1] == f"tables: {tmp_path / 'seg_table.md'} and {tmp_path / 'seg_table.json'}"


def test_seg_runs_resume_without_further_steps(seg_runs):
  root, config, result, _, _ = seg_runs
  again = search.run(config, root / "search")
  assert again.genotype == result.genotype and again.step == result.step


def test_two_stage_retrain_and_both_rows(seg_runs, tmp_path):
  root, _, result, single, _ = seg_runs
  cfg = _load(REPO / "configs" / "seg" / "two_stage_retrain.py").get_config("runlocal")
  cfg.space.update(TINY)
  cfg.progress_bar = False
  cfg.epochs, cfg.data.steps_per_epoch = 1, 4
  genotype = root / "search" / "select" / "argmax" / "selection.json"
  trained = seg_retrain.run(cfg, str(genotype), tmp_path / "retrain")
  assert trained.genotype == result.genotype and 0 <= trained.scores["miou"] <= 1
  again = seg_retrain.run(cfg, str(genotype), tmp_path / "retrain")  # resumes: nothing to do
  assert again.step == trained.step and np.isclose(again.scores["miou"], trained.scores["miou"])
  table = evaluate_seg.evaluate_networks(
    [str(tmp_path / "retrain"), str(root / "search")], tmp_path / "table"
  )
  two, one = table.rows
  assert "two-stage" in two["name"] and "single-stage" in one["name"]
  assert two["params"] < one["params"]


def test_seg_errors_are_one_line(tmp_path, capsys):
  with pytest.raises(SystemExit):
    evaluate_seg.main([f"--workdir={tmp_path}"])
  err = capsys.readouterr().err.strip()
  assert err.startswith("nasjax.evaluate_seg: error:") and len(err.splitlines()) == 1
  c = seg_config.method_config("runlocal")
  c.data.data_dir = str(tmp_path / "missing")
  c.progress_bar = False
  with pytest.raises(Exception, match="data_dir") as info:
    search.run(c, tmp_path / "run")
  assert len(str(info.value).splitlines()) == 1


def _merged(base, update):
  """``base`` with the entries of ``update`` put in (nested dicts)."""
  out = dict(base)
  for k, v in update.items():
    out[k] = _merged(base[k], v) if isinstance(v, dict) else v
  return out


def test_saved_single_stage_network_is_the_frozen_supernet(seg_runs):
  """The pruned, fine-tuned network = the full supernet with the pruned weights set to zero."""
  from nasjax.run.restore import load_search
  from nasjax.spaces import get_space
  from nasjax.spaces.trellis import layout as layout
  from nasjax.spaces.trellis import space as T

  root, config, _, _, _ = seg_runs
  net = load_network(root / "search" / "select" / "single_stage" / "network")
  cfg = net.space_config
  assert cfg.pruned_ops, "the test wants something pruned"
  full_cfg = cfg.copy_and_resolve_references()
  full_cfg.update(pruned_transitions=[], pruned_ops=[])
  full = get_space("trellis").build_supernet(full_cfg)
  searched = load_search(root / "search").state  # the pruned parts keep their searched weights
  variables = {
    "params": _merged(searched.params, net.variables["params"]),
    "batch_stats": _merged(searched.batch_stats, net.variables["batch_stats"]),
  }
  weights = {k: np.array(v) for k, v in net.op_weights.items()}
  ops = T.op_names(cfg)
  for e, op in T.pruned_ops(cfg):
    weights["cell"][e, ops.index(op)] = 0.0
  index = layout.transition_index(cfg.layers, cfg.levels)
  for tr in T.pruned_transitions(cfg):
    key, row, col = index[tr]
    weights[key][row, col] = 0.0
  x = np.random.default_rng(0).normal(size=(2, 48, 64, 3)).astype(np.float32)
  got = np.asarray(net(x))
  want = np.asarray(full.apply(variables, x, weights, train=False))
  assert got.shape == (2, 48, 64, config.space.num_classes)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
