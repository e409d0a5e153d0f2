"""A retrain end to end: CLI and notebook, outputs, resume, refusals, configs."""

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import REPO, cli_env
from test_tensorboard_resume import jsonl_points, scalar_points

from nasjax.config.retrain import (
  imagenet_protocol,
  retrain_config,
  runlocal,
  validate_retrain_config,
)
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.infra.checkpoint import Checkpointer
from nasjax.spaces import flops
from nasjax.spaces.darts import network as darts_network
from nasjax.spaces.darts.genotype import DARTS_V1, DARTS_V2
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.nb201.genotype import NB201Genotype
from nasjax.tasks.classification import retrain

RUNLOCAL = "configs/retrain/cifar10.py:runlocal"
#: runlocal shrunk further for the tests: C=4, 3 cells, 2 epochs of 4 steps of batch 8.
TINY = {
  "network.channels": 4,
  "network.layers": 3,
  "batch_size": 8,
  "data.train_limit": 32,
  "eval.limit": 16,
  "eval.batch_size": 16,
  "log_every_steps": 2,
  "progress_bar": False,
}


def _command(workdir, *flags, genotype="DARTS_V2", config=RUNLOCAL, tiny=True):
  cmd = [sys.executable, "-m", "nasjax.retrain", f"--config={config}", f"--workdir={workdir}"]
  if genotype is not None:
    cmd.append(f"--genotype={genotype}")
  return cmd + ([f"--config.{k}={v}" for k, v in TINY.items()] if tiny else []) + list(flags)


def _cli(workdir, *flags, timeout=600, check=None, **kwargs):
  out = subprocess.run(
    _command(workdir, *flags, **kwargs),
    cwd=REPO,
    env=cli_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )
  if check is not None:
    assert (out.returncode == 0) == check, out.stdout[-3000:] + out.stderr[-3000:]
  return out


def _tiny_config(**changes):
  config = runlocal(retrain_config())
  for key, value in {**TINY, **changes}.items():
    *path, last = key.split(".")
    target = config
    for part in path:
      target = target[part]
    target[last] = value
  return config


def _user_error(out, *fragments):
  assert out.returncode != 0
  assert "Traceback" not in out.stderr, out.stderr[-3000:]
  lines = [line for line in out.stderr.splitlines() if line.startswith("nasjax.retrain: error:")]
  assert len(lines) == 1, out.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cifar_subset):
  """One uninterrupted tiny retrain of DARTS-V2 through the CLI."""
  workdir = tmp_path_factory.mktemp("retrain") / "reference"
  return workdir, _cli(workdir, check=True)


def _epochs(workdir):
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  return [{k: v for k, v in r.items() if "time" not in k} for r in records if r["kind"] == "epoch"]


def test_cli_retrain_writes_every_output(reference):
  workdir, out = reference
  lines = out.stdout.strip().splitlines()
  network = next(line for line in lines if line.startswith("network:"))
  assert (
    network
    == "network: 0.003M parameters (without the auxiliary head), 1.4M multiply-adds at 32x32"
  )
  assert lines[-3].startswith("retrain finished: 8 steps, 2 epochs")
  assert lines[-2].startswith("test top-1 ")
  assert "name: cifar" in (workdir / "config.yaml").read_text()
  assert json.loads((workdir / "genotype.json").read_text()) == DARTS_V2.to_dict()
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["4", "8"]
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  epochs = _epochs(workdir)
  assert [r["epoch"] for r in epochs] == [1, 2]
  for key in ("train/loss", "train/ce", "train/acc", "lr", "test/loss", "test/top1", "test/top5"):
    assert all(np.isfinite(r[key]) for r in epochs), key
  assert epochs[0]["drop_path"] == 0.0 and epochs[1]["drop_path"] == pytest.approx(0.1)
  assert all(r["train/loss"] > r["train/ce"] for r in epochs)  # + 0.4 x the auxiliary loss
  final = json.loads((workdir / "final.json").read_text())
  assert final["test_top1"] == epochs[-1]["test/top1"] and final["test_top5"] >= final["test_top1"]
  assert final["epochs"] == 2 and final["steps"] == 8 and final["time_s"] > 0
  config = _tiny_config()
  net = darts_network.build_network(DARTS_V2, config.network)
  shapes = jax.eval_shape(
    lambda: net.init(jax.random.key(0), np.zeros((1, 32, 32, 3), np.float32), train=False)
  )
  assert final["params"] == flops.count_params(shapes["params"]) == 2858
  assert final["multiply_adds"] == 1_442_442


def _same_state(state, workdir, step):
  checkpointer = Checkpointer(workdir / "checkpoints")
  saved, _ = checkpointer.restore(step, state)
  checkpointer.close()
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(saved), strict=True):
    assert np.array_equal(np.asarray(a), np.asarray(b))  # bit-identical


def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(reference, tmp_path, capsys):
  ref_dir, _ = reference
  workdir = tmp_path / "resumed"
  shutil.copytree(ref_dir, workdir)
  shutil.rmtree(workdir / "checkpoints" / "8")  # as if stopped after the first epoch
  (workdir / "final.json").unlink()
  with pytest.raises(ConfigError, match="different config .*epochs: 2 -> 3"):
    retrain.run(_tiny_config(epochs=3), DARTS_V2, workdir)
  with pytest.raises(GenotypeError, match="different genotype") as e:
    retrain.run(_tiny_config(), DARTS_V1, workdir)
  assert "genotype.json" in str(e.value) and "new --workdir" in str(e.value)
  capsys.readouterr()
  result = retrain.run(_tiny_config(), "DARTS_V2", workdir)
  assert f"resuming {workdir} from step 4 (epoch 1 of 2)" in capsys.readouterr().out
  _same_state(result.state, ref_dir, 8)
  assert _epochs(workdir) == _epochs(ref_dir)
  points = scalar_points(workdir / "tensorboard")  # the steps after 4 once, not twice
  assert sorted(points) == sorted(jsonl_points(workdir / "metrics.jsonl"))
  final = json.loads((workdir / "final.json").read_text())
  assert final["test_top1"] == json.loads((ref_dir / "final.json").read_text())["test_top1"]
  assert result.test["top1"] == final["test_top1"] and result.params == final["params"]


@pytest.mark.slow
def test_a_shorter_run_extended_equals_the_longer_run(reference, tmp_path, capsys):
  """One epoch with ``epochs=1``, then resumed with ``epochs=2``.

  The first epoch's learning rate (cosine at epoch 0) and drop path (0 in
  epoch 0) do not depend on ``epochs``, so the extended run continues
  exactly where the 2-epoch reference was after its first epoch.
  """
  ref_dir, _ = reference
  workdir = tmp_path / "extended"
  first = retrain.run(_tiny_config(epochs=1), DARTS_V2, workdir)
  assert first.step == 4 and sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["4"]
  result = retrain.run(_tiny_config(allow_resume_with_changes=True), DARTS_V2, workdir)
  _same_state(result.state, ref_dir, 8)
  assert _epochs(workdir) == _epochs(ref_dir)


def test_genotype_resolution(tmp_path):
  assert retrain.resolve_genotype("PC_DARTS") is retrain.NAMED_GENOTYPES["PC_DARTS"]
  search_output = tmp_path / "genotype.json"
  search_output.write_text(json.dumps({"genotype": DARTS_V1.to_dict(), "step": 10}))
  assert retrain.resolve_genotype(search_output) == DARTS_V1
  text = tmp_path / "genotype.txt"
  text.write_text(DARTS_V2.to_string())
  assert retrain.resolve_genotype(str(text)) == DARTS_V2
  with pytest.raises(DataNotFoundError, match="neither a file nor a published genotype"):
    retrain.resolve_genotype("DARTS_V3")
  nb201 = tmp_path / "nb201.json"
  nb201.write_text(NB201Genotype.from_edges(["nor_conv_3x3"] * 6).to_json())
  with pytest.raises(GenotypeError, match="holds a 'nb201' genotype"):
    retrain.resolve_genotype(nb201)


def test_bad_input_gives_one_line_and_a_nonzero_exit(reference, tmp_path):
  ref_dir, _ = reference
  out = _cli(tmp_path / "a", genotype="/nonexistent/genotype.json", timeout=120)
  _user_error(out, "'/nonexistent/genotype.json' is neither a file", "DARTS_V2")
  nb201 = tmp_path / "nb201.txt"
  nb201.write_text(NB201Genotype.from_edges(["skip_connect"] * 6).to_string())
  _user_error(_cli(tmp_path / "b", genotype=nb201, timeout=120), "'nb201' genotype")
  _user_error(_cli(tmp_path / "c", genotype=None, timeout=120), "--genotype is required")
  out = _cli(tmp_path / "d", "--config.network.name=resnet", timeout=120)
  _user_error(out, "config.network.name must be one of ['cifar', 'imagenet']")
  out = _cli(tmp_path / "e", "--config.network.num_classes=100", timeout=120)
  _user_error(out, "num_classes=100", "10 classes")
  copy = tmp_path / "copy"
  shutil.copytree(ref_dir, copy)
  shutil.rmtree(copy / "checkpoints" / "8")
  _user_error(_cli(copy, genotype="DARTS_V1", timeout=300), "different genotype", "new --workdir")


def test_validation_names_the_field():
  cases = {
    "network.layers": (2, "config.network.layers must be >= 3"),
    "network.drop_path_prob": (1.0, "config.network.drop_path_prob must be in [0, 1)"),
    "optimizer.schedule": ("linear", "config.optimizer.schedule must be one of"),
    "optimizer.gamma": (1.5, "config.optimizer.gamma must be in (0, 1]"),
    "data.source": ("hdf5", "config.data.source must be one of ['tfds', 'npz']"),
    "data.augment.color_jitter.hue": (0.7, "color_jitter.hue must be in [0, 0.5]"),
    "label_smoothing": (-0.1, "config.label_smoothing must be in [0, 1)"),
  }
  for key, (value, message) in cases.items():
    config = _tiny_config(**{key: value})
    with pytest.raises(ConfigError) as e:
      validate_retrain_config(config)
    assert message in str(e.value), (key, str(e.value))
  config = imagenet_protocol(retrain_config())
  validate_retrain_config(config)
  config.network.name = "cifar"
  with pytest.raises(ConfigError, match="does not fit config.data.name='imagenet2012'"):
    validate_retrain_config(config)


def _load(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("name", ["cifar10", "imagenet"])
def test_configs_validate_and_document_their_launch(name):
  path = REPO / "configs" / "retrain" / f"{name}.py"
  module = _load(path)
  assert f"--config=configs/retrain/{name}.py:runlocal" in module.__doc__
  assert "Protocol" in module.__doc__ and "python -m nasjax.retrain" in module.__doc__
  full, local = module.get_config(None), module.get_config("runlocal")
  validate_retrain_config(full)
  validate_retrain_config(local)
  assert local.network.channels < full.network.channels and local.epochs <= 2
  with pytest.raises(ConfigError, match="unknown config variant"):
    module.get_config("fast")
  if name == "cifar10":
    assert (full.network.channels, full.network.layers, full.epochs) == (36, 20, 600)
    assert full.data.augment.cutout == 16 and full.network.drop_path_prob == 0.2
    assert local.data.source == "npz"
    c100 = module.get_config("cifar100")
    assert c100.data.name == "cifar100" and c100.network.num_classes == 100
    assert module.get_config("svhn").data.name == "svhn"
  else:
    assert (full.network.channels, full.network.layers, full.epochs) == (48, 14, 250)
    assert full.optimizer.schedule == "exponential" and full.optimizer.gamma == 0.97
    assert full.label_smoothing == 0.1 and full.data.image_size == 224


@pytest.mark.slow
def test_interrupt_saves_and_resumes(tmp_path):
  flags = ["--config.data.train_limit=240"]  # 2 epochs of 30 steps
  reference = tmp_path / "reference"
  _cli(reference, *flags, check=True)
  workdir = tmp_path / "interrupted"
  proc = subprocess.Popen(
    _command(workdir, *flags), cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, text=True
  )
  ckpts = Path(workdir) / "checkpoints"
  deadline = time.time() + 300
  while not (ckpts.exists() and any(p.name == "30" for p in ckpts.iterdir())):
    assert proc.poll() is None and time.time() < deadline
    time.sleep(0.05)
  time.sleep(0.3)  # a few steps into the second epoch
  proc.send_signal(signal.SIGINT)
  stdout, _ = proc.communicate(timeout=120)
  assert proc.returncode == 130 and "re-run the same command" in stdout, stdout
  step = int(stdout.split("checkpoint at step ")[1].split(";")[0])
  assert 30 < step < 60
  out = _cli(workdir, *flags, check=True)
  assert f"from step {step}" in out.stdout
  assert _epochs(workdir) == _epochs(reference)
  final = json.loads((workdir / "final.json").read_text())
  assert final["test_loss"] == json.loads((reference / "final.json").read_text())["test_loss"]
