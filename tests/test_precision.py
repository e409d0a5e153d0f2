"""Mixed precision: bfloat16 arithmetic, float32 weights, alpha and optimiser state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from nasjax.core.setup import compute_dtype, make_search_setup
from nasjax.core.state import ForwardContext
from nasjax.errors import ConfigError


def test_auto_is_float32_on_cpu_and_bfloat16_is_honoured():
  assert jax.default_backend() == "cpu"
  assert compute_dtype("auto") is None
  assert compute_dtype("float32") is None
  assert compute_dtype("bfloat16") == jnp.bfloat16


def test_an_unknown_precision_is_refused():
  with pytest.raises(ConfigError, match="config.precision must be one of"):
    make_search_setup(tiny_config(precision="float16"), 10)


@pytest.fixture(scope="module")
def setups():
  return {p: make_search_setup(tiny_config(precision=p), 10) for p in ("float32", "bfloat16")}


def _batch(seed):
  rng = np.random.default_rng(seed)
  return {
    "image": rng.normal(size=(8, 16, 16, 3)).astype(np.float32),
    "label": rng.integers(0, 10, 8).astype(np.int32),
  }


def test_the_convolutions_run_in_bfloat16(setups):
  setup = setups["bfloat16"]
  state = setup.init(jax.random.key(0), (16, 16, 3))
  context = ForwardContext(state.batch_stats, jax.random.key(1))
  args = (state.params, state.alphas, _batch(0), context)
  text = str(jax.make_jaxpr(setup.loss)(*args))
  convs = [line for line in text.splitlines() if "conv_general_dilated" in line]
  assert convs and all("bf16" in line for line in convs)
  full = str(jax.make_jaxpr(setups["float32"].loss)(*args))
  assert "bf16" not in full


def test_a_bfloat16_step_keeps_float32_state_and_tracks_float32(setups):
  results = {}
  for precision, setup in setups.items():
    state = setup.init(jax.random.key(0), (16, 16, 3))
    alpha0 = np.asarray(state.alphas["cell"])
    new, metrics = jax.jit(setup.step)(state, _batch(1), _batch(2))
    for leaf in jax.tree.leaves((new.params, new.alphas, new.weight_opt_state, new.batch_stats)):
      if jnp.issubdtype(leaf.dtype, jnp.floating):
        assert leaf.dtype == jnp.float32
    results[precision] = (metrics, np.asarray(new.alphas["cell"]) - alpha0)
  (m32, d32), (m16, d16) = results["float32"], results["bfloat16"]
  assert float(m16["train/loss"]) == pytest.approx(float(m32["train/loss"]), rel=2e-2)
  assert float(m16["val/loss"]) == pytest.approx(float(m32["val/loss"]), rel=2e-2)
  # alpha moves the same way (Adam's first step is about lr * sign(gradient))
  agree = np.mean(np.sign(d16) == np.sign(d32))
  assert agree > 0.8, agree
  assert float(m16["train/loss"]) != float(m32["train/loss"])  # it did compute in bfloat16
