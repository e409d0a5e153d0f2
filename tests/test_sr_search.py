"""Super-resolution search end to end: configs, FLOPs loss, search, select, retrain, evaluate."""

import importlib.util
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import REPO, data_dir

from nasjax import evaluate_sr, search, select
from nasjax.analysis.plots import make_plots
from nasjax.config import search as cfg_lib
from nasjax.config.sr import flops, runlocal, sr_search_config
from nasjax.core.regularizers import flops_penalty, make_regularizer
from nasjax.core.relax import make_relaxation
from nasjax.errors import ConfigError
from nasjax.spaces import get_space
from nasjax.spaces.saved import load_network
from nasjax.tasks.registry import get_task
from nasjax.tasks.super_resolution import metrics as sr_metrics
from nasjax.tasks.super_resolution import (
  retrain as sr_retrain,
)
from nasjax.tasks.super_resolution.imresize import downsample

SR_CONFIGS = sorted((REPO / "configs" / "sr").glob("*.py"))


def _load(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_sr_method_of_the_issue_has_a_config():
  names = {p.stem for p in SR_CONFIGS}
  assert names >= {
    "imdn_darts",
    "imdn_beta",
    "imdn_sa",
    "imdn_sac",
    "imdn_sac_flops",
    "dlsr_darts",
    "dlsr_sa",
    "dlsr_sac",
    "retrain",
  }


@pytest.mark.parametrize(
  "path", [p for p in SR_CONFIGS if p.stem != "retrain"], ids=lambda p: p.stem
)
def test_sr_search_config_validates_and_documents_its_launch(path):
  module = _load(path)
  rel = path.relative_to(REPO).as_posix()
  assert f"python -m nasjax.search --config={rel}:runlocal" in module.__doc__
  full, local, x4 = (module.get_config(a) for a in (None, "runlocal", "x4"))
  for c in (full, local, x4):
    cfg_lib.validate_search_config(c)
  assert full.space.name == path.stem.split("_")[0] and full.data.name == "div2k"
  assert x4.data.scale == x4.space.scale == 4
  assert local.data.source == "folder" and local.epochs * local.data.steps_per_epoch <= 10
  assert local.space.features < full.space.features
  method = path.stem.split("_", 1)[1]
  assert full.regularizers.sa.enabled == method.startswith("sa")
  assert full.regularizers.beta_decay.enabled == (method == "beta")
  assert full.regularizers.flops.enabled == method.endswith("flops")
  assert (full.space.partial_channels == 4) == method.startswith("sac")
  assert full.optimizer.weights.name == "adam" and full.optimizer.alpha.b1 == 0.5
  if full.space.name == "dlsr":  # DLSR's public code: alpha from epoch 20, images 601-800
    assert full.optimizer.alpha.warmup_epochs == 20 and full.data.split_ratio == 0.75
    assert local.optimizer.alpha.warmup_epochs < local.epochs


def test_sr_config_errors_name_the_fix():
  c = sr_search_config("imdn")
  c.data.scale = 3
  with pytest.raises(ConfigError, match="config.space.scale=2"):
    cfg_lib.validate_search_config(c)
  c = sr_search_config("imdn")
  c.hypergradient = "second_order_exact"
  with pytest.raises(ConfigError, match="optimizer.weights.name=sgd"):
    cfg_lib.validate_search_config(c)
  c = sr_search_config("dlsr")
  c.space.ops = ("conv_3x3", "conv_9x9")
  with pytest.raises(ConfigError, match=r"unknown op\(s\) \['conv_9x9'\]"):
    cfg_lib.validate_search_config(c)
  c = cfg_lib.search_config()  # a classification space has no candidate costs
  c.regularizers.flops.enabled = True
  with pytest.raises(ConfigError, match="flops.enabled=False"):
    cfg_lib.validate_search_config(c)


def test_l1_loss_and_psnr_by_hand():
  task = get_task("super_resolution")
  hr = jnp.zeros((2, 2, 2, 3)).at[1].set(0.5)
  out = hr.at[0, 0, 0, 0].set(0.6).at[1].add(0.25)
  assert np.allclose(task.per_example_loss(out, hr), [0.6 / 12, 0.25])
  # image 0: MSE 0.36 / 12 = 0.03; image 1: 0.0625; output clipped to [0, 1] first
  assert np.allclose(task.per_example_metric(out, hr), [-10 * np.log10(0.03), 12.0412], atol=1e-4)
  assert task.per_example_metric(hr, hr)[0] == np.inf
  assert np.isclose(task.per_example_metric(hr + 2.0, hr)[1], -10 * np.log10(0.25))


def test_flops_penalty_by_hand():
  probs = {"a": jnp.array([[0.25, 0.75]]), "b": jnp.array([[1.0, 0.0, 0.0]])}
  costs = {"a": np.array([[1e9, 3e9]]), "b": np.array([[2e9, 5e9, 7e9]])}
  assert np.isclose(float(flops_penalty(probs, costs)), 0.25 + 2.25 + 2.0)


def test_flops_loss_pushes_probability_to_cheaper_ops():
  config = runlocal(flops(sr_search_config("imdn"), strength=1.0))
  space = get_space("imdn")
  costs = space.op_costs(config.space)["blocks"]
  relax = make_relaxation(config.relaxation, total_epochs=config.epochs)
  reg = make_regularizer(config.regularizers, config.epochs, relax.probs, {"blocks": costs})
  alphas = {"blocks": jnp.zeros(costs.shape)}
  tx = optax.sgd(20.0 / (costs.max() / 1e9))  # gradient descent: keeps the op order exact
  opt = tx.init(alphas)
  grad = jax.jit(jax.grad(lambda a: reg(a, 0)[0]))
  expected = [float(reg(alphas, 0)[0])]
  for _ in range(40):
    updates, opt = tx.update(grad(alphas), opt)
    alphas = optax.apply_updates(alphas, updates)
    expected.append(float(reg(alphas, 0)[0]))
  assert all(b < a for a, b in zip(expected, expected[1:], strict=False))
  probs = np.asarray(relax.probs(alphas)["blocks"])
  assert np.array_equal(np.argmax(probs, -1), np.argmin(costs, -1))  # the cheapest op wins
  # the probability order follows the cost order in every row
  for p, c in zip(probs, costs, strict=True):
    assert np.all(np.diff(p[np.argsort(c, kind="stable")]) <= 1e-6)


@pytest.fixture(scope="module")
def sr_runs(tmp_path_factory):
  """A runlocal IMDN SAC+FLOPs search, its argmax selection, its retraining and IMDN's."""
  data_dir()
  root = tmp_path_factory.mktemp("sr")
  config = _load(REPO / "configs" / "sr" / "imdn_sac_flops.py").get_config("runlocal")
  config.progress_bar = False
  result = search.run(config, root / "search")
  chosen = select.run(select.select_config(), root / "search", "argmax")
  retrain_cfg = _load(REPO / "configs" / "sr" / "retrain.py").get_config("runlocal")
  retrain_cfg.progress_bar = False
  genotype_file = root / "search" / "select" / "argmax" / "selection.json"
  trained = sr_retrain.run(retrain_cfg, str(genotype_file), root / "retrain")
  return root, config, result, chosen, trained


def test_runlocal_search_selects_an_imdn_genotype(sr_runs):
  root, config, result, chosen, _ = sr_runs
  assert result.genotype.space == "imdn" and len(result.genotype.ops) == 4
  assert chosen.record["genotype"] == result.genotype.to_dict()
  records = [json.loads(line) for line in (root / "search" / "metrics.jsonl").open()]
  epochs = [r for r in records if r["kind"] == "epoch"]
  assert len(epochs) == config.epochs
  assert all(np.isfinite(r["test/psnr"]) and r["reg/flops"] > 0 for r in epochs)
  assert "discretization/gap" in chosen.record and chosen.record["benchmark"] is None


def test_retrain_and_evaluate_sr_write_the_table(sr_runs, tmp_path, capsys):
  root, _, result, _, trained = sr_runs
  assert trained.genotype == result.genotype
  final = json.loads((root / "retrain" / "final.json").read_text())
  assert final["params"] == trained.params
  sets = f"{data_dir() / 'sr' / 'Set5'}"
  evaluate_sr.main([f"--workdir={root / 'retrain'}", f"--sets={sets}", f"--output={tmp_path}"])
  table = json.loads((tmp_path / "sr_table.json").read_text())
  (row,) = table["rows"]
  assert table["sets"] == ["Set5"] and row["scale"] == 2 and row["params"] == trained.params
  set5 = row["sets"]["Set5"]
  assert set5["images"] == 5 and 20 < set5["psnr"] < 40 and 0.5 < set5["ssim"] <= 1
  # the first image again, independently: bicubic LR, network, quantised Y PSNR with border 2
  first = set5["per_image"][0]
  from PIL import Image

  hr = np.asarray(Image.open(data_dir() / "sr" / "Set5" / f"{first['image']}.png").convert("RGB"))
  hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
  net = load_network(root / "retrain" / "network")
  out = np.asarray(net(downsample(hr, 2)[None].astype(np.float32) / 255.0))[0]
  assert np.isclose(sr_metrics.psnr(np.clip(out, 0, 1), hr, border=2), first["psnr"], atol=1e-6)
  assert np.isclose(np.mean([r["psnr"] for r in set5["per_image"]]), set5["psnr"])
  md = (tmp_path / "sr_table.md").read_text()
  assert "Set5 PSNR/SSIM" in md and f"{set5['psnr']:.2f}" in md
  printed = capsys.readouterr().out.strip().splitlines()
  assert printed[-2] == md.strip().splitlines()[-1]  # the table, then where it was written
  assert printed[-1] == f"tables: {tmp_path / 'sr_table.md'} and {tmp_path / 'sr_table.json'}"


def test_sr_runs_resume_without_further_steps(sr_runs):
  root, config, result, _, _ = sr_runs
  again = search.run(config, root / "search")
  assert again.genotype == result.genotype and again.step == result.step


def test_evaluate_sr_errors_are_one_line(tmp_path, capsys):
  with pytest.raises(SystemExit):
    evaluate_sr.main([f"--workdir={tmp_path}", "--sets=x"])
  err = capsys.readouterr().err.strip()
  assert err.startswith("nasjax.evaluate_sr: error:") and "sr_retrain" in err
  assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_dlsr_runlocal_search_and_pt_selection(tmp_path):
  data_dir()
  config = _load(REPO / "configs" / "sr" / "dlsr_sac.py").get_config("runlocal")
  config.progress_bar = False
  result = search.run(config, tmp_path)
  assert result.genotype.space == "dlsr" and len(result.genotype.ops) == 3
  pt_cfg = select.select_config()
  pt_cfg.pt.proj_interval = 1
  chosen = select.run(pt_cfg, tmp_path, "pt")
  assert chosen.record["genotype"]["space"] == "dlsr"
  written = make_plots(tmp_path)  # two alpha tensors of different widths
  assert {"alphas", "margin", "genotype"} <= set(written)


def test_public_names_do_not_hide_modules():
  import importlib
  import pkgutil

  import nasjax

  modules = {m.name for m in pkgutil.iter_modules(nasjax.__path__)}
  # A top-level name that is also a sub-module's name must be that module (the role packages
  # `nasjax.core`, `nasjax.spaces`, ...), never a function shadowing it.
  shared = modules & set(nasjax.__all__)
  assert {"core", "spaces", "tasks", "config", "run"} <= shared
  for name in shared:
    assert getattr(nasjax, name) is importlib.import_module(f"nasjax.{name}"), name
