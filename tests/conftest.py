"""Shared fixtures: the real data in NASJAX_DATA_DIR and tiny search setups.

Tests find the shared data through ``NASJAX_DATA_DIR``, defaulting to
``../shared/data`` beside the repository when it exists. Compiled programs
are cached on disk for the session (XLA compiles on CPU are the slow part of
this suite), so identical programs built by different tests compile once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from nasjax.infra.compilation import enable_compilation_cache

REPO = Path(__file__).resolve().parent.parent
_DEFAULT_DATA = REPO.parent / "shared" / "data"
if "NASJAX_DATA_DIR" not in os.environ and _DEFAULT_DATA.is_dir():
  os.environ["NASJAX_DATA_DIR"] = str(_DEFAULT_DATA)

_CACHE = os.environ.setdefault(
  "NASJAX_TEST_COMPILATION_CACHE", os.path.join(tempfile.gettempdir(), "nasjax-test-xla-cache")
)
enable_compilation_cache(_CACHE, min_compile_seconds=0.5)
# Searches the tests launch as subprocesses share that cache (and leave ~/.cache alone).
os.environ.setdefault("NASJAX_COMPILATION_CACHE", _CACHE)
# Command-line runs in tests skip the restart with huge pages (tests/test_host_memory.py
# covers it): it costs a second interpreter start per run and no test step is large.
os.environ.setdefault("NASJAX_HUGE_PAGES", "0")
# Command-line runs hide XLA's C++ log lines and restart once to do so; set
# here, the test's subprocesses start without that restart.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cli_env() -> dict[str, str]:
  """The environment of a command-line run a test starts (CPU, unbuffered output).

  It keeps this session's ``NASJAX_COMPILATION_CACHE`` and data directory.
  """
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  env["PYTHONUNBUFFERED"] = "1"
  return env


def run_module(module: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
  """``python -m module *args`` from the repository root, output captured, no raise."""
  return subprocess.run(
    [sys.executable, "-m", module, *args],
    cwd=REPO,
    env=cli_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
    check=False,
  )


def assert_ok(out: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
  """``out`` after asserting it exited 0 (its output's tails as the message)."""
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  return out


def data_dir() -> Path:
  path = os.environ.get("NASJAX_DATA_DIR")
  if not path or not Path(path).is_dir():
    pytest.skip("real data not found: set NASJAX_DATA_DIR to the shared data folder")
  return Path(path)


@pytest.fixture(scope="session")
def nb201_table_path() -> Path:
  path = data_dir() / "nb201.csv.gz"
  if not path.is_file():
    pytest.skip(f"{path} is missing")
  return path


@pytest.fixture(scope="session")
def cifar_subset() -> dict[str, np.ndarray]:
  """The real CIFAR-10 subset (uint8 NHWC images, int labels)."""
  path = data_dir() / "cifar10_subset.npz"
  if not path.is_file():
    pytest.skip(f"{path} is missing")
  with np.load(path) as d:
    return {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def normalized_batch(
  cifar: dict[str, np.ndarray], start: int, size: int, dtype=np.float32
) -> dict[str, np.ndarray]:
  """A batch of real CIFAR-10 training images, per-channel normalised."""
  mean = np.array([0.4914, 0.4822, 0.4465])
  std = np.array([0.2470, 0.2435, 0.2616])
  x = cifar["x_train"][start : start + size].astype(np.float64) / 255.0
  return {
    "image": ((x - mean) / std).astype(dtype),
    "label": cifar["y_train"][start : start + size].astype(np.int32),
  }


def tiny_config(**overrides):
  """The default search config on a tiny supernet (C=4, one cell per stage)."""
  from nasjax.config.search import search_config

  config = search_config()
  config.space.channels = 4
  config.space.cells_per_stage = 1
  config.batch_size = 8
  for key, value in overrides.items():
    target = config
    *path, last = key.split(".")
    for part in path:
      target = target[part]
    target[last] = value
  return config


def to_float64(tree):
  import jax
  import jax.numpy as jnp

  return jax.tree.map(
    lambda x: (
      jnp.asarray(x, jnp.float64) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x
    ),
    tree,
  )
