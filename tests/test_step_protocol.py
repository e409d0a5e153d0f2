"""The step's protocol options: update order, BN statistics policy, clip set (see bilevel.py).

``tests/test_autodl_golden.py`` checks one step of each order against
AutoDL's PyTorch code; here each option is checked against its definition
on a tiny supernet, including what one step cannot show (the alpha gradient
carried into the next step's clip, second-order statistics, warm-up).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import normalized_batch, tiny_config

from nasjax.config.search import validate_search_config
from nasjax.core import optimizers
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext
from nasjax.errors import ConfigError

#: conv, skip and `none` exercise every path and keep compiles short.
OPS = ("none", "skip_connect", "nor_conv_3x3")


@functools.cache
def _setup(
  order="alpha_first", bn="weight_step", clip="weights", mode="first_order", grad_clip=5.0, warmup=0
):
  config = tiny_config(hypergradient=mode, step_order=order, bn_stats_update=bn)
  config.space.update(ops=OPS, track_running_stats=True, conv_bias=True)
  config.optimizer.weights.update(grad_clip=grad_clip, grad_clip_scope=clip)
  config.optimizer.alpha.warmup_epochs = warmup
  return make_search_setup(config, steps_per_epoch=4)


@pytest.fixture(scope="module")
def batches(cifar_subset):
  return [normalized_batch(cifar_subset, 16 * k, 16) for k in range(4)]


def _same(a, b) -> bool:
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb, strict=True))


def _close(a, b, rtol=1e-5, atol=1e-7) -> None:
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _stats_of_forward(setup, state, batch, alphas=None, params=None):
  """BN statistics after one training-mode forward from ``state``'s."""
  alphas = state.alphas if alphas is None else alphas
  params = state.params if params is None else params
  return setup.loss(params, alphas, batch, ForwardContext(state.batch_stats))[1][1]


@pytest.mark.parametrize("order", ["alpha_first", "weights_first"])
def test_the_step_runs_the_two_updates_in_its_order(batches, order):
  setup = _setup(order=order)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  got, _ = jax.jit(setup.step)(state, batches[0], batches[1])
  if order == "alpha_first":
    mid, _ = setup.alpha_update(state, batches[0], batches[1])
    want, _ = setup.weight_update(mid, batches[0])
  else:
    mid, _ = setup.weight_update(state, batches[0])
    want, _ = setup.alpha_update(mid, batches[0], batches[1])
  _close(got.params, want.params)
  _close(got.alphas, want.alphas)
  _close(got.batch_stats, want.batch_stats)
  other = _setup(order="weights_first" if order == "alpha_first" else "alpha_first")
  theirs, _ = jax.jit(other.step)(state, batches[0], batches[1])
  assert not np.allclose(theirs.alphas["cell"], got.alphas["cell"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("bn", ["weight_step", "both_steps"])
def test_first_order_alpha_update_and_bn_statistics(batches, bn):
  """'both_steps': the alpha update's validation forward at w updates them; else nothing does."""
  setup = _setup(bn=bn)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  new, _ = jax.jit(setup.alpha_update)(state, batches[0], batches[1])
  if bn == "weight_step":
    assert _same(new.batch_stats, state.batch_stats)
  else:
    _close(new.batch_stats, _stats_of_forward(setup, state, batches[1]))
    assert not _same(new.batch_stats, state.batch_stats)


def test_second_order_bn_statistics_come_from_the_unrolling_forward(batches):
  """Second order: the forward on the training batch at the current weights (not at w')."""
  setup = _setup(bn="both_steps", mode="second_order_exact")
  state = setup.init(jax.random.key(0), (32, 32, 3))
  new, _ = jax.jit(setup.alpha_update)(state, batches[0], batches[1])
  _close(new.batch_stats, _stats_of_forward(setup, state, batches[0]))
  val = _stats_of_forward(setup, state, batches[1])
  assert not np.allclose(jax.tree.leaves(new.batch_stats)[0], jax.tree.leaves(val)[0])


def _train_alpha_grad(setup, state, batch):
  """d L_train / d(alpha, betas) at the state's weights and alpha."""
  return jax.grad(
    lambda arch: setup.loss(state.params, arch["alphas"], batch, ForwardContext(state.batch_stats))[
      0
    ]
  )(state.arch_params)


def _norm(*trees) -> float:
  return float(optax.tree.norm(jax.tree.map(lambda *xs: sum(xs), *trees)))


def test_weights_first_clip_counts_the_previous_alpha_gradient(batches):
  """PyTorch's alpha .grad at the clip: this step's train gradient + the last alpha update's."""
  setup = _setup(order="weights_first", clip="weights_and_alpha")
  state = setup.init(jax.random.key(0), (32, 32, 3))
  assert _same(state.alpha_grad, jax.tree.map(jnp.zeros_like, state.arch_params))
  step = jax.jit(setup.step)
  first, m1 = step(state, batches[0], batches[1])
  assert float(m1["alpha/clip_grad_norm"]) == pytest.approx(
    _norm(_train_alpha_grad(setup, state, batches[0])), rel=1e-5
  )
  # What the first alpha update left (its gradient: no regulariser here) counts in the next clip.
  assert float(optax.tree.norm(first.alpha_grad["alphas"])) > 0
  _, m2 = step(first, batches[2], batches[3])
  carried_plus_train = _norm(first.alpha_grad, _train_alpha_grad(setup, first, batches[2]))
  assert float(m2["alpha/clip_grad_norm"]) == pytest.approx(carried_plus_train, rel=1e-5)
  train_only = _norm(_train_alpha_grad(setup, first, batches[2]))
  assert carried_plus_train != pytest.approx(train_only, rel=1e-3)
  weights = float(m2["weights/grad_norm"])
  assert float(m2["weights/clip_norm"]) == pytest.approx(
    np.hypot(weights, carried_plus_train), rel=1e-5
  )


def test_alpha_first_clip_counts_this_steps_alpha_gradient(batches):
  setup = _setup(clip="weights_and_alpha")
  state = setup.init(jax.random.key(0), (32, 32, 3))
  mid, _ = jax.jit(setup.alpha_update)(state, batches[0], batches[1])
  _, metrics = jax.jit(setup.step)(state, batches[0], batches[1])
  want = _norm(mid.alpha_grad, _train_alpha_grad(setup, mid, batches[0]))
  assert float(metrics["alpha/clip_grad_norm"]) == pytest.approx(want, rel=1e-5)


def test_an_active_clip_scales_the_weight_gradients_as_pytorch(batches):
  """With a small threshold the weight gradients are scaled by 0.1 / (total norm + 1e-6)."""
  clip = _setup(clip="weights_and_alpha", grad_clip=0.1)
  free = _setup(clip="weights_and_alpha", grad_clip=0.0)
  state = clip.init(jax.random.key(0), (32, 32, 3))
  state = state.replace(alpha_grad=jax.tree.map(lambda x: x + 0.5, state.alpha_grad))
  clipped, metrics = jax.jit(clip.weight_update)(state, batches[0])
  total = float(metrics["weights/clip_norm"])
  assert total > 0.1
  # The unclipped gradient through the same optimiser arithmetic, scaled by hand.
  grads = jax.grad(
    lambda p: clip.loss(p, state.alphas, batches[0], ForwardContext(state.batch_stats))[0]
  )(state.params)
  scale = 0.1 / (total + 1e-6)
  tx = optimizers.weight_optimizer(free.config.optimizer.weights, clip.lr_schedule)
  updates, _ = tx.update(
    jax.tree.map(lambda g: g * scale, grads), tx.init(state.params), state.params
  )
  _close(clipped.params, optax.apply_updates(state.params, updates), rtol=1e-5, atol=1e-8)
  weights_only = _setup(clip="weights", grad_clip=0.1)
  other, _ = jax.jit(weights_only.weight_update)(state.replace(alpha_grad={}), batches[0])
  assert not np.allclose(jax.tree.leaves(other.params)[0], jax.tree.leaves(clipped.params)[0])


def test_clip_by_total_norm():
  tx = optimizers.clip_by_total_norm(1.0)
  grads = {"w": jnp.asarray([3.0, 4.0])}
  state = tx.init(grads)
  scaled, _ = tx.update(grads, state, None, clip_extra_sq_norm=jnp.asarray(144.0))
  np.testing.assert_allclose(scaled["w"], np.array([3.0, 4.0]) / (13.0 + 1e-6), rtol=1e-6)
  kept, _ = tx.update({"w": jnp.asarray([0.3, 0.4])}, state, None)
  np.testing.assert_array_equal(kept["w"], np.array([0.3, 0.4], np.float32))
  assert state == optax.clip_by_global_norm(1.0).init(grads)  # the same (empty) state


def test_a_skipped_alpha_update_touches_neither_statistics_nor_the_carried_gradient(batches):
  setup = _setup(order="weights_first", bn="both_steps", clip="weights_and_alpha", warmup=1)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  state = state.replace(alpha_grad=jax.tree.map(lambda x: x + 1.0, state.alpha_grad))
  new, _ = jax.jit(setup.step)(state, batches[0], batches[1])
  assert _same(new.alphas, state.alphas)
  assert _same(new.alpha_grad, jax.tree.map(jnp.zeros_like, state.alpha_grad))
  weights_only, _ = jax.jit(setup.weight_update)(state, batches[0])
  _close(new.batch_stats, weights_only.batch_stats, rtol=0, atol=0)


def test_frozen_alpha_clips_the_weights_alone(batches):
  config = tiny_config(step_order="weights_first")
  config.optimizer.weights.grad_clip_scope = "weights_and_alpha"
  config.optimizer.alpha.frozen = True
  setup = make_search_setup(config, steps_per_epoch=4)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  assert state.alpha_grad == {}
  _, metrics = jax.jit(setup.step)(state, batches[0], batches[1])
  assert "alpha/clip_grad_norm" not in metrics


@pytest.mark.parametrize(
  "field,value,message",
  [
    ("step_order", "weights_last", "config.step_order must be one of"),
    ("bn_stats_update", "val", "config.bn_stats_update must be one of"),
    ("optimizer.weights.grad_clip_scope", "all", "grad_clip_scope must be one of"),
  ],
)
def test_bad_protocol_values_are_one_sentence(field, value, message):
  config = tiny_config(**{field: value})
  with pytest.raises(ConfigError, match=message) as info:
    validate_search_config(config)
  assert str(info.value).count(". ") == 0 and "\n" not in str(info.value)
