"""Data parallelism: one step on 4 (fake CPU) devices equals one step on 1 device.

XLA fixes the number of CPU devices when the backend starts, so the
comparison runs in a subprocess started with
``--xla_force_host_platform_device_count=4``; it prints its findings as JSON.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from nasjax.errors import ConfigError
from nasjax.infra import parallel

_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import jax
import numpy as np
from conftest import tiny_config
from nasjax.config import nb201_protocol
from nasjax.core import training
from nasjax.core.setup import make_search_setup
from nasjax.infra import parallel
from nasjax.spaces.darts.genotype import DARTS_V2
from nasjax.config.retrain import retrain_config

assert jax.device_count() == 4, jax.devices()
rng = np.random.default_rng(0)
def batch():
  return {"image": rng.normal(size=(8, 16, 16, 3)).astype(np.float32),
          "label": rng.integers(0, 10, 8).astype(np.int32)}
train, val = batch(), batch()
meshes = [parallel.make_mesh(jax.devices()[:1]), parallel.make_mesh()]
placed = parallel.put_batch(train, meshes[1])["image"]
out = {"shard_rows": placed.sharding.shard_shape(placed.shape)[0]}

def run(fn, state0, *batches):
  got = []
  for mesh in meshes:
    step = jax.jit(fn, out_shardings=parallel.replicated(mesh))
    placed = [parallel.put_batch(b, mesh) for b in batches]
    state, metrics = step(parallel.put_replicated(state0, mesh), *placed)
    assert all(leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(state))
    got.append(jax.device_get((state, metrics)))
  return got

def gap(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
                      / (1e-3 + np.abs(np.asarray(y, np.float64)))))
             for x, y in zip(la, lb) if np.asarray(x).dtype.kind == "f")

for mode in sys.argv[2].split(","):
  if mode == "autodl":  # weights first, BN statistics from both steps, clip with alpha, conv bias
    config = nb201_protocol(tiny_config())
    config.batch_size = 8
  else:
    config = tiny_config(hypergradient=mode)
  config.space.track_running_stats = True  # BN running statistics must be global-batch ones too
  setup = make_search_setup(config, 10)
  state0 = jax.device_get(setup.init(jax.random.key(0), (16, 16, 3)))
  one, four = run(setup.step, state0, train, val)
  out[mode] = {"state": gap(four[0], one[0]), "metrics": gap(four[1], one[1]),
               "alpha_moved": float(np.max(np.abs(one[0].alphas["cell"] - state0.alphas["cell"])))}

if "retrain" not in sys.argv[2:]:
  print(json.dumps(out))
  sys.exit(0)
config = retrain_config()
config.batch_size = 8
config.network.update(channels=4, layers=3, auxiliary=False, drop_path_prob=0.3)
setup = training.make_train_setup(config, 10, DARTS_V2)
state0 = jax.device_get(setup.init(jax.random.key(0), (16, 16, 3)))
state0 = state0.replace(step=np.asarray(5, np.int32))  # drop path is on after step 0
one, four = run(setup.step, state0, train)
out["retrain"] = {"state": gap(four[0], one[0]), "metrics": gap(four[1], one[1]),
                  "moved": gap(one[0].params, state0.params)}
print(json.dumps(out))
"""


def _on_four_devices(modes: str, *extra: str) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = (
    env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
  ).strip()
  env["JAX_PLATFORMS"] = "cpu"
  out = subprocess.run(
    [sys.executable, "-c", _SCRIPT, str(REPO / "tests"), modes, *extra],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=900,
    check=False,
  )
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def four_devices():
  return _on_four_devices("first_order,second_order_exact,autodl", "retrain")


def test_the_batch_is_split_across_the_devices(four_devices):
  assert four_devices["shard_rows"] == 2


def _check_step(found: dict, state_tol: float = 1e-4) -> None:
  assert found["alpha_moved"] > 1e-6  # the step did update alpha
  assert found["state"] < state_tol, found
  assert found["metrics"] < 1e-4, found


@pytest.mark.parametrize("mode", ["first_order", "second_order_exact", "autodl"])
def test_one_step_on_four_devices_equals_one_device(four_devices, mode):
  # With cell conv biases (AutoDL's protocol) a bias cancels under batch statistics: its
  # gradient is rounding noise, so its momentum (noise + wd * bias) differs in the 4th digit.
  _check_step(four_devices[mode], state_tol=1e-3 if mode == "autodl" else 1e-4)


@pytest.mark.slow
def test_one_fd_second_order_step_on_four_devices_equals_one_device():
  _check_step(_on_four_devices("second_order_fd")["second_order_fd"])


def test_one_retraining_step_on_four_devices_equals_one_device(four_devices):
  found = four_devices["retrain"]
  assert found["moved"] > 1e-6
  assert found["state"] < 1e-4, found
  assert found["metrics"] < 1e-4, found


def test_a_batch_the_devices_cannot_share_is_refused():
  mesh = parallel.make_mesh()
  n = mesh.devices.size
  parallel.check_batch(8 * n, mesh)  # divisible: fine
  if n == 1:
    fake = type("FakeMesh", (), {"devices": np.empty(4)})()
    with pytest.raises(ConfigError, match=r"config.batch_size=10 cannot be split evenly over 4"):
      parallel.check_batch(10, fake)
