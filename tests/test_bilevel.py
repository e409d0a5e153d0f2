"""The search state and step: separation of alpha and weights, wiring, optimisers."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import normalized_batch, tiny_config

from nasjax.core import hypergradient as hg
from nasjax.core import optimizers
from nasjax.core import regularizers as R
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext


def _trees_identical(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(
    x.dtype == y.dtype and x.shape == y.shape and np.array_equal(np.asarray(x), np.asarray(y))
    for x, y in zip(la, lb, strict=True)
  )


@functools.cache
def _setup(mode="first_order", sa=False):
  config = tiny_config(hypergradient=mode)
  if sa:
    config.regularizers.sa.update(enabled=True, schedule="constant", strength=0.5)
    config.optimizer.alpha.weight_decay = 0.0
  return make_search_setup(config, steps_per_epoch=4)


@pytest.fixture(scope="module")
def batches(cifar_subset):
  return [normalized_batch(cifar_subset, 16 * k, 16) for k in range(8)]


def _warm_state(setup, batches, steps=2):
  """A state a few weight steps in: non-zero momentum, moved weights and BN statistics."""
  state = setup.init(jax.random.key(0), (32, 32, 3))
  update = jax.jit(setup.weight_update)
  for k in range(steps):
    state, _ = update(state, batches[k])
    state = state.replace(step=state.step + 1)
  return state


@pytest.mark.parametrize(
  "mode",
  [
    "first_order",
    pytest.param("second_order_exact", marks=pytest.mark.slow),
    pytest.param("second_order_fd", marks=pytest.mark.slow),
  ],
)
def test_alpha_step_leaves_weights_bit_identical(batches, mode):
  setup = _setup(mode)
  state = _warm_state(setup, batches)
  new, _ = jax.jit(setup.alpha_update)(state, batches[2], batches[3])
  assert _trees_identical(new.params, state.params)
  assert _trees_identical(new.batch_stats, state.batch_stats)
  assert _trees_identical(new.weight_opt_state, state.weight_opt_state)
  assert not _trees_identical(new.alphas, state.alphas)


def test_weight_step_leaves_alpha_bit_identical(batches):
  setup = _setup()
  state = _warm_state(setup, batches)
  new, _ = jax.jit(setup.weight_update)(state, batches[2])
  assert _trees_identical(new.alphas, state.alphas)
  assert _trees_identical(new.alpha_opt_state, state.alpha_opt_state)
  assert not _trees_identical(new.params, state.params)


def test_alpha_update_wiring_first_order_with_regulariser(batches):
  """alpha' = Adam(grad_alpha L_val(w, alpha) + grad R(alpha, epoch)), checked by hand."""
  setup = _setup(sa=True)
  state = _warm_state(setup, batches, steps=5)  # epoch 1 of 4-step epochs
  new, metrics = jax.jit(setup.alpha_update)(state, batches[5], batches[6])
  grad_val = jax.grad(
    lambda a: setup.loss(state.params, a, batches[6], ForwardContext(state.batch_stats))[0]
  )(state.alphas)
  grad_reg = jax.grad(lambda a: 0.5 * R.sa_penalty(a["cell"]))(state.alphas)
  grads = {"alphas": jax.tree.map(jnp.add, grad_val, grad_reg), "betas": {}}
  updates, _ = setup.alpha_tx.update(grads, state.alpha_opt_state, state.arch_params)
  expected = optax.apply_updates(state.arch_params, updates)["alphas"]
  np.testing.assert_allclose(new.alphas["cell"], expected["cell"], rtol=1e-5, atol=1e-9)
  assert new.betas == {}
  assert float(metrics["reg/sa"]) == pytest.approx(
    0.5 * float(jnp.sum(state.alphas["cell"])), rel=1e-5, abs=1e-8
  )


@pytest.mark.slow
def test_alpha_update_wiring_second_order(batches):
  """The unrolled step uses the optimiser's momentum buffer and the current lr."""
  setup = _setup("second_order_exact")
  state = _warm_state(setup, batches, steps=5)
  new, _ = jax.jit(setup.alpha_update)(state, batches[5], batches[6])
  cfg = setup.config.optimizer.weights
  inner = hg.InnerStep(
    lr=setup.lr_schedule(state.step),
    momentum_buffer=optimizers.momentum_buffer(state.weight_opt_state),
    momentum=cfg.momentum,
    weight_decay=cfg.weight_decay,
  )
  assert float(optax.tree.norm(inner.momentum_buffer)) > 0

  def loss_fn(p, a, b):
    return setup.loss(p, a, b, ForwardContext(state.batch_stats))

  grads, _ = jax.jit(
    lambda s: hg.second_order_exact(loss_fn, s.params, s.alphas, batches[5], batches[6], inner)
  )(state)
  arch = state.arch_params
  updates, _ = setup.alpha_tx.update({"alphas": grads, "betas": {}}, state.alpha_opt_state, arch)
  expected = optax.apply_updates(arch, updates)["alphas"]
  np.testing.assert_allclose(new.alphas["cell"], expected["cell"], rtol=1e-5, atol=1e-9)


def test_short_search_on_real_data_learns(batches):
  setup = _setup()
  step = jax.jit(setup.step, donate_argnums=0)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  losses = []
  for k in range(24):
    state, metrics = step(state, batches[k % 4], batches[4 + k % 4])
    losses.append(float(metrics["train/loss"]))
    assert all(np.isfinite(float(v)) for v in metrics.values())
  assert int(state.step) == 24
  assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.2, losses
  expected_keys = {
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "lr",
    "reg/total",
    "alpha/grad_norm",
    "alpha/entropy",
    "weights/grad_norm",
  }
  assert expected_keys <= set(metrics)
  assert float(metrics["alpha/entropy"]) < math.log(5)  # alpha has moved from uniform
  ev = jax.jit(setup.evaluate)(state, batches[0])
  assert 0.0 <= float(ev["acc"]) <= 1.0 and np.isfinite(float(ev["loss"]))


def test_epoch_cosine_schedule():
  sched = optimizers.epoch_cosine_schedule(0.025, 0.001, epochs=50, steps_per_epoch=10)
  expected = lambda e: 0.001 + 0.024 * 0.5 * (1 + math.cos(math.pi * e / 50))
  for step in (0, 9, 10, 255, 499):
    assert float(sched(step)) == pytest.approx(expected(step // 10), rel=1e-6)
  assert float(sched(0)) == pytest.approx(0.025)
  assert float(sched(500)) == pytest.approx(0.001)


def test_weight_optimiser_is_pytorch_sgd():
  """Clip the raw gradient, add wd * w, momentum buffer b = m b + g, w -= lr * b."""
  cfg = tiny_config().optimizer.weights
  cfg.grad_clip = 1.0
  tx = optimizers.weight_optimizer(cfg, lambda step: 0.1 / (1 + step))
  w = {"x": jnp.array([1.0, -2.0, 3.0])}
  state = tx.init(w)
  w_ref, buf = np.array([1.0, -2.0, 3.0]), np.zeros(3)
  for step, g in enumerate([np.array([3.0, 4.0, 0.0]), np.array([0.1, -0.2, 0.3])]):
    updates, state = tx.update({"x": jnp.asarray(g)}, state, w)
    w = optax.apply_updates(w, updates)
    g = g * min(1.0, 1.0 / np.linalg.norm(g))
    buf = 0.9 * buf + g + 3e-4 * w_ref
    w_ref = w_ref - 0.1 / (1 + step) * buf
    np.testing.assert_allclose(w["x"], w_ref, rtol=1e-6)


def test_alpha_optimiser_is_adam_with_coupled_l2():
  cfg = tiny_config().optimizer.alpha
  tx = optimizers.alpha_optimizer(cfg)
  a = jnp.array([0.5, -1.0])
  state = tx.init(a)
  a_ref, m, v = np.array([0.5, -1.0]), np.zeros(2), np.zeros(2)
  for t, g in enumerate([np.array([0.2, -0.1]), np.array([-0.3, 0.4])], start=1):
    updates, state = tx.update(jnp.asarray(g), state, a)
    a = optax.apply_updates(a, updates)
    g = g + 1e-3 * a_ref  # coupled: added to the gradient before the moments
    m = 0.5 * m + 0.5 * g
    v = 0.999 * v + 0.001 * g * g
    a_ref = a_ref - 3e-4 * (m / (1 - 0.5**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(a, a_ref, rtol=1e-6)


def test_state_starts_as_the_design_says():
  setup = _setup()
  state = setup.init(jax.random.key(3), (32, 32, 3))
  assert int(state.step) == 0 and state.rng.dtype == jnp.uint32
  alpha = np.asarray(state.alphas["cell"])
  assert alpha.shape == (6, 5) and 0 < alpha.std() < 5e-3  # 1e-3 * N(0, 1)
  assert float(optax.tree.norm(optimizers.momentum_buffer(state.weight_opt_state))) == 0.0
  again = setup.init(jax.random.key(3), (32, 32, 3))
  assert _trees_identical(state, again)
  other = setup.init(jax.random.key(4), (32, 32, 3))
  assert not _trees_identical(state.params, other.params)


def test_warmup_skips_the_alpha_update_inside_the_step(batches):
  """PC-DARTS' warm-up: during the first epochs only the weights train."""
  config = tiny_config(**{"optimizer.alpha.warmup_epochs": 1})
  setup = make_search_setup(config, steps_per_epoch=4)
  state = _warm_state(setup, batches, steps=3)  # step 3: the last step of epoch 0
  assert "cond" in str(jax.make_jaxpr(setup.step)(state, batches[3], batches[4]))
  step = jax.jit(setup.step)
  new, metrics = step(state, batches[3], batches[4])
  assert _trees_identical(new.alphas, state.alphas)
  assert _trees_identical(new.betas, state.betas)
  assert _trees_identical(new.alpha_opt_state, state.alpha_opt_state)
  assert not _trees_identical(new.params, state.params)
  assert float(metrics["alpha/updated"]) == 0.0
  assert float(metrics["alpha/grad_norm"]) == 0.0
  # The validation loss is still measured: the plain step's, at the same (w, alpha).
  _, plain = jax.jit(_setup().alpha_update)(state, batches[3], batches[4])
  np.testing.assert_allclose(metrics["val/loss"], plain["val/loss"], rtol=1e-5)
  np.testing.assert_allclose(metrics["val/acc"], plain["val/acc"])
  assert float(metrics["train/loss"]) > 0 and float(metrics["alpha/entropy"]) > 0
  # Step 4 is in epoch 1: alpha moves exactly as the plain alpha update moves it.
  after, metrics = step(new, batches[4], batches[5])
  assert float(metrics["alpha/updated"]) == 1.0 and float(metrics["val/loss"]) > 0
  expected, _ = jax.jit(_setup().alpha_update)(new, batches[4], batches[5])
  assert not _trees_identical(after.alphas, new.alphas)
  np.testing.assert_allclose(after.alphas["cell"], expected.alphas["cell"], rtol=1e-5, atol=1e-9)


@functools.cache
def _edge_setup(mode="first_order"):
  config = tiny_config(hypergradient=mode, **{"space.edge_normalization": True})
  config.regularizers.sa.update(enabled=True, schedule="constant", strength=0.5)
  config.optimizer.alpha.weight_decay = 0.0
  return make_search_setup(config, steps_per_epoch=4)


def test_edge_betas_get_the_hypergradient_and_no_regulariser(batches):
  setup = _edge_setup()
  state = _warm_state(setup, batches)
  beta = np.asarray(state.betas["cell"])
  assert beta.shape == (6,) and 0 < beta.std() < 5e-3  # 1e-3 * N(0, 1), like alpha
  new, metrics = jax.jit(setup.alpha_update)(state, batches[2], batches[3])

  def val_loss(arch):
    return setup.loss(
      state.params, arch["alphas"], batches[3], ForwardContext(state.batch_stats), arch["betas"]
    )[0]

  grads = jax.jit(jax.grad(val_loss))(state.arch_params)
  assert float(optax.tree.norm(grads["betas"])) > 1e-7
  assert float(metrics["beta/grad_norm"]) == pytest.approx(
    float(optax.tree.norm(grads["betas"])), rel=1e-4
  )
  # SA (Eq. 8) acts on alpha only; betas get the bare hypergradient.
  grads["alphas"] = jax.tree.map(
    jnp.add, grads["alphas"], jax.grad(lambda a: 0.5 * R.sa_penalty(a["cell"]))(state.alphas)
  )
  updates, _ = setup.alpha_tx.update(grads, state.alpha_opt_state, state.arch_params)
  expected = optax.apply_updates(state.arch_params, updates)
  for part in ("alphas", "betas"):
    np.testing.assert_allclose(
      new.arch_params[part]["cell"], expected[part]["cell"], rtol=1e-5, atol=1e-9
    )
  assert not _trees_identical(new.betas, state.betas)
  # The weight step leaves betas alone; evaluation uses them.
  after, _ = jax.jit(setup.weight_update)(new, batches[4])
  assert _trees_identical(after.betas, new.betas)
  assert np.isfinite(float(jax.jit(setup.evaluate)(after, batches[5])["loss"]))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["second_order_exact", "second_order_fd"])
def test_edge_betas_get_the_second_order_hypergradient(batches, mode):
  setup = _edge_setup(mode)
  state = _warm_state(setup, batches)
  new, metrics = jax.jit(setup.alpha_update)(state, batches[2], batches[3])
  assert np.isfinite(float(metrics["beta/grad_norm"])) and float(metrics["beta/grad_norm"]) > 0
  assert not _trees_identical(new.betas, state.betas)
  assert np.all(np.isfinite(np.asarray(new.betas["cell"])))
