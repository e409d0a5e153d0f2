"""A search run end to end: CLI, outputs, resume, interruption, and errors."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, cli_env
from test_tensorboard_resume import jsonl_points, scalar_points

from nasjax.run import search_log

RUNLOCAL = "configs/nb201/darts_1st.py:runlocal"


def _command(workdir, *flags, config=RUNLOCAL):
  return [
    sys.executable,
    "-m",
    "nasjax.search",
    f"--config={config}",
    f"--workdir={workdir}",
    "--config.progress_bar=False",
    *flags,
  ]


def _start(workdir, **popen_kwargs):
  """Starts a runlocal search in the background."""
  return subprocess.Popen(_command(workdir), cwd=REPO, env=cli_env(), **popen_kwargs)


def _cli(workdir, *flags, config=RUNLOCAL, timeout=600, check=None):
  cmd = _command(workdir, *flags, config=config)
  out = subprocess.run(
    cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=timeout, check=False
  )
  if check is not None:
    assert (out.returncode == 0) == check, out.stdout[-3000:] + out.stderr[-3000:]
  return out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, nb201_table_path, cifar_subset):
  """One uninterrupted runlocal search through the CLI (the reference for resumes)."""
  workdir = tmp_path_factory.mktemp("search") / "reference"
  out = _cli(workdir, check=True)
  return workdir, out


def _user_error(out, *fragments):
  assert out.returncode != 0
  assert "Traceback" not in out.stderr, out.stderr[-3000:]
  lines = [line for line in out.stderr.splitlines() if line.startswith("nasjax.search: error:")]
  assert len(lines) == 1, out.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def test_runlocal_search_writes_every_output(finished_run):
  workdir, out = finished_run
  lines = out.stdout.strip().splitlines()
  tail = lines[max(i for i, line in enumerate(lines) if line.startswith("search finished")) :]
  assert tail[0].startswith("search finished: 60 steps, 3 epochs")
  assert tail[1].startswith("genotype: |")
  # The caveat under the genotype exactly when alpha is still near uniform.
  probs = json.loads((workdir / "genotype.json").read_text())["probs"]
  flat = search_log.near_uniform({k: np.asarray(v) for k, v in probs.items()})
  assert tail[2].startswith("note: alpha has hardly moved") == (flat is not None), tail
  assert tail[3 if flat else 2].startswith("NAS-Bench-201: cifar10 valid")
  # The run header: the protocol of NAS-Bench-201's DARTS-V1 (AutoDL's code) as resolved.
  assert (
    "step: weights_first (weight update, then alpha), first_order; BN running statistics "
    "updated by both updates (search cells track them); grad clip 5 over the weights and alpha; "
    "cell conv bias on"
  ) in out.stdout.splitlines()
  assert (workdir / "config.yaml").read_text().count("hypergradient: first_order") == 1
  # config.yaml is plain YAML (no Python object tags) holding what config.json holds.
  recorded = json.loads((workdir / "config.json").read_text())
  assert yaml.safe_load((workdir / "config.yaml").read_text()) == recorded
  assert "!!python" not in (workdir / "config.yaml").read_text()
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.is_dir())[-1] == "60"
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  epochs = [r for r in records if r["kind"] == "epoch"]
  assert [r["epoch"] for r in epochs] == [1, 2, 3]
  # One epoch numbering for every row: steps 1..20 are epoch 1 (20 steps per epoch).
  train = [r for r in records if r["kind"] == "train"]
  assert [(r["step"], r["epoch"]) for r in train[:5]] == [
    (5, 1),
    (10, 1),
    (15, 1),
    (20, 1),
    (25, 2),
  ]
  assert all(r["epoch"] == (r["step"] - 1) // 20 + 1 for r in records)
  for key in (
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "lr",
    "alpha/entropy",
    "reg/total",
    "test/acc",
    "nb201/cifar10_test",
  ):
    assert all(np.isfinite(r[key]) for r in epochs), key
  train = [r for r in records if r["kind"] == "train"]
  assert [r["step"] for r in train] == list(range(5, 61, 5))
  assert all(r["step_time_s"] > 0 for r in train[1:])
  assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
  with np.load(workdir / "alphas.npz") as alphas:
    assert list(alphas["epoch"]) == [1, 2, 3] and list(alphas["step"]) == [20, 40, 60]
    assert alphas["cell"].shape == (3, 6, 5)
    np.testing.assert_allclose(alphas["cell"].sum(-1), 1.0, rtol=1e-5)
    assert list(alphas["op_names"]) == [
      "none",
      "skip_connect",
      "nor_conv_1x1",
      "nor_conv_3x3",
      "avg_pool_3x3",
    ]
  genotypes = [json.loads(line) for line in (workdir / "genotypes.jsonl").read_text().splitlines()]
  assert [g["epoch"] for g in genotypes] == [1, 2, 3]
  assert all(0 < g["benchmark"]["cifar10_test"] < 100 for g in genotypes)
  final = json.loads((workdir / "genotype.json").read_text())
  assert final["genotype"]["arch_str"] == genotypes[-1]["genotype"]["arch_str"]
  assert final["genotype"]["arch_str"] in tail[1]


def _wait_for_checkpoint(workdir, proc, min_step, timeout=300):
  ckpts = Path(workdir) / "checkpoints"
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      pytest.fail("the search finished before it could be interrupted")
    steps = [int(p.name) for p in ckpts.glob("*") if p.name.isdigit()] if ckpts.exists() else []
    if steps and max(steps) >= min_step:
      return max(steps)
    time.sleep(0.05)
  pytest.fail("no checkpoint appeared")


def _wait_for_logged_step(workdir, proc, min_step, timeout=300):
  path = Path(workdir) / "metrics.jsonl"
  deadline = time.time() + timeout
  while time.time() < deadline:
    if proc.poll() is not None:
      pytest.fail("the search finished before it could be interrupted")
    lines = path.read_text().splitlines() if path.exists() else []
    if any(json.loads(line)["step"] >= min_step for line in lines if line.endswith("}")):
      return
    time.sleep(0.02)
  pytest.fail(f"step {min_step} was never logged")


def _same_final_state(reference, resumed):
  with np.load(reference / "alphas.npz") as a, np.load(resumed / "alphas.npz") as b:
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
      assert np.array_equal(a[key], b[key]), key  # bit-identical
  assert (reference / "genotypes.jsonl").read_text() == (resumed / "genotypes.jsonl").read_text()
  ref = json.loads((reference / "genotype.json").read_text())
  got = json.loads((resumed / "genotype.json").read_text())
  assert ref == got
  epochs = lambda w: [
    {k: v for k, v in json.loads(line).items() if "time" not in k}
    for line in (w / "metrics.jsonl").read_text().splitlines()
    if json.loads(line)["kind"] == "epoch"
  ]
  assert epochs(reference) == epochs(resumed)
  # TensorBoard holds what metrics.jsonl holds: each point once, none lost with the kill.
  points = scalar_points(resumed / "tensorboard")
  assert len(points) == len({(tag, step) for tag, step, _ in points})
  assert sorted(points) == sorted(jsonl_points(resumed / "metrics.jsonl"))


def test_resume_after_kill_9_equals_the_uninterrupted_run(finished_run, tmp_path):
  reference, _ = finished_run
  workdir = tmp_path / "killed"
  proc = _start(workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  step = _wait_for_checkpoint(workdir, proc, 20)
  time.sleep(0.3)  # a few steps into the next epoch
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert step < 60
  out = _cli(workdir, check=True)
  assert f"resuming {workdir.absolute()} from step" in out.stdout
  _same_final_state(reference, workdir)


def test_a_half_written_checkpoint_is_never_picked_up(finished_run, tmp_path):
  """What a kill -9 during a save leaves behind: orbax's temporary folder."""
  reference, _ = finished_run
  workdir = tmp_path / "halfsaved"
  shutil.copytree(reference, workdir)
  ckpts = workdir / "checkpoints"
  for step in ("60", "40"):
    shutil.rmtree(ckpts / step)
  partial = ckpts / "40.orbax-checkpoint-tmp-1700000000000000"
  shutil.copytree(reference / "checkpoints" / "40", partial)
  for f in sorted(p for p in partial.rglob("*") if p.is_file())[::2]:
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])  # half-written files
  out = _cli(workdir, check=True)
  assert "from step 20" in out.stdout
  assert not partial.exists()
  _same_final_state(reference, workdir)


def test_interrupt_saves_and_resumes(finished_run, tmp_path):
  reference, _ = finished_run
  workdir = tmp_path / "interrupted"
  # Synchronous saves, and the interrupt sent once step 25 is logged: checkpoint 20 is complete,
  # no save is in flight, and the run is inside epoch 2's steps, whatever their speed.
  flags = ["--config.checkpoint.async_save=False"]
  # The child inherits the disposition and mask of SIGINT: make sure it gets Python's default
  # (inside a full test session the signal reached the child ignored).
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
  try:
    proc = subprocess.Popen(
      _command(workdir, *flags),
      cwd=REPO,
      env=cli_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
  finally:
    signal.signal(signal.SIGINT, previous)
  _wait_for_checkpoint(workdir, proc, 20)
  _wait_for_logged_step(workdir, proc, 25)
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
  assert "interrupted" in stdout and "re-run the same command" in stdout
  assert "Traceback" not in stderr, stderr[-2000:]
  assert stderr.splitlines()[-1].startswith("nasjax.search: interrupted; rerun the same command")
  _cli(workdir, check=True)
  _same_final_state(reference, workdir)


@pytest.mark.parametrize(
  "flags,fragments",
  [
    (
      ["--config.optimizer.weights.lrr=0.1"],
      ["no field 'optimizer.weights.lrr'", "did you mean 'lr'"],
    ),
    (["--config.epochs=three"], ["--config.epochs=three", "int()"]),
    (
      ["--config.regularizers.entropy.enabled=True", "--config.regularizers.entropy.reduction=max"],
      ["config.regularizers.entropy.reduction"],
    ),
    (["--config.optimizer.weights.lr=-0.1"], ["config.optimizer.weights.lr must be > 0"]),
    (["--config.space.channels=0"], ["config.space.channels must be an integer >= 1"]),
    (["--config.space.ops=('none','conv_9x9')"], ["unknown op(s) ['conv_9x9']"]),
    (["--config.regularizers.sa.schedule=cosine"], ["config.regularizers.sa.schedule"]),
    (["--config.data.path=/nonexistent/cifar.npz"], ["/nonexistent/cifar.npz", "config.data.path"]),
    (["--config.nb201_table=/nonexistent/nb201.csv.gz"], ["NAS-Bench-201 table not found"]),
    (["--config.space.num_classes=100"], ["num_classes=100", "10 classes"]),
  ],
)
def test_bad_input_gives_one_line_and_a_nonzero_exit(tmp_path, flags, fragments):
  out = _cli(tmp_path / "bad", *flags, timeout=120)
  _user_error(out, *fragments)


def test_unknown_config_variant_and_missing_workdir(tmp_path):
  out = _cli(tmp_path / "v", config="configs/nb201/darts_1st.py:fast", timeout=120)
  _user_error(out, "unknown config variant", "'fast'")
  cmd = [sys.executable, "-m", "nasjax.search", f"--config={RUNLOCAL}"]
  out = subprocess.run(cmd, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
  _user_error(out, "--workdir is required")
  out = _cli(tmp_path / "v", config="configs/nb201/darts_1stt.py", timeout=120)
  _user_error(out, "cannot load the config file configs/nb201/darts_1stt.py", "No such file")
  broken = tmp_path / "broken.py"
  broken.write_text("def get_config(:\n")
  out = _cli(tmp_path / "v", config=str(broken), timeout=120)
  _user_error(out, "cannot load the config file", "SyntaxError at line 1")


def test_corrupt_and_incompatible_checkpoints(finished_run, tmp_path):
  reference, _ = finished_run
  corrupt = tmp_path / "corrupt"
  shutil.copytree(reference, corrupt)
  shutil.rmtree(corrupt / "checkpoints" / "60")
  for f in (corrupt / "checkpoints" / "40").rglob("*"):
    if f.is_file() and f.stat().st_size > 100:
      f.write_bytes(b"\0" * 16)
  out = _cli(corrupt, timeout=300)
  line = _user_error(out, "checkpoint", "cannot be restored", "delete that folder")
  assert "/checkpoints/40" in line
  changed = tmp_path / "changed"
  shutil.copytree(reference, changed)
  shutil.rmtree(changed / "checkpoints" / "60")
  out = _cli(changed, "--config.space.channels=4", timeout=300)
  _user_error(out, "different config", "space.channels: 8 -> 4", "new --workdir")


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(finished_run, tmp_path):
  reference, _ = finished_run
  workdir = tmp_path / "diverge"
  shutil.copytree(reference, workdir)
  for step in ("60", "40"):
    shutil.rmtree(workdir / "checkpoints" / step)
  out = _cli(
    workdir,
    "--config.optimizer.weights.lr=1e30",
    "--config.optimizer.weights.lr_min=0",
    "--config.allow_resume_with_changes=True",
    timeout=600,
  )
  line = _user_error(out, "training diverged", "NaN/Inf at step", "last good checkpoint is step 20")
  assert int(line.split("at step ")[1].split()[0]) >= 20
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["20"]
  # The kept checkpoint still resumes (with the original learning rate) to the reference result.
  _cli(workdir, "--config.allow_resume_with_changes=True", check=True)
  _same_final_state(reference, workdir)
