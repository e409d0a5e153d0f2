"""A search run as two processes on one machine equals one process with two devices.

Two CPU processes connect through ``nasjax.infra.distributed`` (settings from the
``NASJAX_*`` environment variables, as a launcher would give them), form one
mesh of 2 x 1 devices and run the runlocal search into one workdir. The
reference is one process with two (fake) CPU devices: the same mesh shape and
partitioning, so the runs must agree up to float reordering, and only
process 0 may write the run's files.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

RUNLOCAL = "configs/nb201/darts_1st.py:runlocal"
# Two epochs of 4 steps (batch 32) on a C=4 supernet: one compile of the step per process.
TINY = (
  "--config.progress_bar=False",
  "--config.epochs=2",
  "--config.data.train_limit=256",
  "--config.eval.limit=64",
  "--config.eval.batch_size=64",
  "--config.space.channels=4",
  "--config.log_every_steps=2",
)
TIMEOUT_S = 600


def _env(**extra: str) -> dict[str, str]:
  """The test's environment without launcher settings, plus ``extra``."""
  launchers = ("NASJAX_DISTRIBUTED", "NASJAX_COORDINATOR", "NASJAX_NUM_", "NASJAX_PROCESS_")
  env = {k: v for k, v in os.environ.items() if not k.startswith((*launchers, "SLURM_", "OMPI_"))}
  env.pop("XLA_FLAGS", None)
  env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1", **extra)
  return env


def _command(workdir):
  return [
    sys.executable,
    "-m",
    "nasjax.search",
    f"--config={RUNLOCAL}",
    f"--workdir={workdir}",
    *TINY,
  ]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, nb201_table_path, cifar_subset):
  """The two-process run and its one-process, two-device reference (run side by side)."""
  root = tmp_path_factory.mktemp("multiprocess")
  address = f"localhost:{_free_port()}"
  procs = [
    subprocess.Popen(
      _command(root / "two_processes"),
      cwd=REPO,
      env=_env(
        NASJAX_COORDINATOR_ADDRESS=address,
        NASJAX_NUM_PROCESSES="2",
        NASJAX_PROCESS_ID=str(i),
      ),
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for i in range(2)
  ]
  reference = subprocess.Popen(
    _command(root / "one_process"),
    cwd=REPO,
    env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )
  outputs = []
  try:
    for p in [*procs, reference]:
      out, _ = p.communicate(timeout=TIMEOUT_S)
      outputs.append((p.returncode, out))
  finally:
    for p in [*procs, reference]:
      if p.poll() is None:
        p.kill()
        p.wait()
  return root, outputs


def test_both_processes_finish_and_only_process_0_reports(runs):
  _, outputs = runs
  for i, (code, out) in enumerate(outputs):
    assert code == 0, f"run {i} failed:\n{out[-4000:]}"
  (_, main), (_, other), _ = outputs
  assert main.count("search finished:") == 1, main[-2000:]
  assert "search finished:" not in other and "genotype:" not in other, other[-2000:]


def test_one_set_of_outputs(runs):
  root, _ = runs
  workdir = root / "two_processes"
  reference = root / "one_process"
  assert sorted(p.name for p in workdir.iterdir()) == sorted(p.name for p in reference.iterdir())
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  ref_lines = (reference / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == len(ref_lines) > 0
  keys = [(r["step"], r["kind"]) for r in map(json.loads, lines)]
  assert len(keys) == len(set(keys)), "duplicate metrics lines"
  genotypes = (workdir / "genotypes.jsonl").read_text().splitlines()
  assert len(genotypes) == 2  # one per epoch
  assert len(list((workdir / "tensorboard").iterdir())) == 1
  assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["4", "8"]


def test_two_processes_equal_one_process_on_the_same_mesh(runs):
  root, _ = runs
  a = np.load(root / "two_processes" / "alphas.npz")
  b = np.load(root / "one_process" / "alphas.npz")
  np.testing.assert_array_equal(a["step"], b["step"])
  # Moving alpha at all: the comparison is not between two initialisations.
  assert np.abs(b["cell_logits"][-1] - b["cell_logits"][0]).max() > 1e-5
  np.testing.assert_allclose(a["cell_logits"], b["cell_logits"], rtol=0, atol=1e-6)
  ours = [json.loads(line) for line in (root / "two_processes" / "metrics.jsonl").open()]
  theirs = [json.loads(line) for line in (root / "one_process" / "metrics.jsonl").open()]
  for x, y in zip(ours, theirs, strict=True):
    for key in ("train/loss", "val/loss", "weights/grad_norm", "alpha/grad_norm"):
      if key in y:
        assert x[key] == pytest.approx(y[key], rel=1e-5), (x["step"], key)
  genotype = json.loads((root / "two_processes" / "genotype.json").read_text())
  expected = json.loads((root / "one_process" / "genotype.json").read_text())
  assert genotype["genotype"] == expected["genotype"]
