"""Hypergradients: exact second order against finite differences, FD against exact."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import normalized_batch, tiny_config, to_float64

from nasjax.core import hypergradient as hg
from nasjax.core import optimizers
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext


@pytest.fixture(scope="module")
def problem(cifar_subset):
  """A float64 bilevel problem on the tiny NB201 supernet and real CIFAR-10 images."""
  with jax.enable_x64(True):
    # Three ops keep compile times down; conv, skip and `none` exercise every path.
    config = tiny_config(**{"space.ops": ("none", "skip_connect", "nor_conv_3x3")})
    setup = make_search_setup(config, steps_per_epoch=10)
    state = setup.init(jax.random.key(0), (32, 32, 3))
    rng = np.random.default_rng(0)
    params = to_float64(state.params)
    buffer = jax.tree.map(lambda p: jnp.asarray(0.1 * rng.normal(size=p.shape)), params)
    alphas = {"cell": jnp.asarray(0.5 * rng.normal(size=(6, 3)))}
    train = to_float64(normalized_batch(cifar_subset, 0, 8))
    val = to_float64(normalized_batch(cifar_subset, 8, 8))
    stats = to_float64(state.batch_stats)

    def loss_fn(p, a, batch):
      return setup.loss(p, a, batch, ForwardContext(stats))

    def jitted(mode, **kw):
      return jax.jit(lambda *args: mode(loss_fn, *args, **kw)[0]["cell"])

    @jax.jit
    def hvps(inner, radius):
      """The exact and the central-difference mixed HVP at w along v = grad_w' L_val(w')."""
      w_prime = hg.unrolled_weights(loss_fn, params, alphas, train, inner)
      v = jax.grad(lambda p: loss_fn(p, alphas, val)[0])(w_prime)
      eps = radius / jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(v)))
      grad_a = lambda p: jax.grad(lambda a: loss_fn(p, a, train)[0])(alphas)["cell"]
      hvp = jax.jvp(grad_a, (params,), (v,))[1]
      shift = lambda sign: jax.tree.map(lambda x, d: x + sign * eps * d, params, v)
      return hvp, (grad_a(shift(1.0)) - grad_a(shift(-1.0))) / (2 * eps)

    yield dict(
      setup=setup,
      params=params,
      buffer=buffer,
      alphas=alphas,
      train=train,
      val=val,
      loss_fn=loss_fn,
      hvps=hvps,
      exact=jitted(hg.second_order_exact),
      first=jitted(hg.first_order),
      fd=jax.jit(
        lambda *args, radius: hg.second_order_fd(loss_fn, *args, radius=radius)[0]["cell"]
      ),
    )


def _inner(problem, nesterov=False, lr=0.3):
  return hg.InnerStep(
    lr=jnp.float64(lr),
    momentum=0.9,
    momentum_buffer=problem["buffer"],
    weight_decay=3e-4,
    nesterov=nesterov,
  )


def _unrolled_objective(problem, inner):
  """L_val(w'(alpha), alpha), written out from the formula, independently of hypergradient.py."""
  loss_fn, w, b = problem["loss_fn"], problem["params"], problem["buffer"]
  xi, m, wd = inner.lr, inner.momentum, inner.weight_decay

  def objective(flat_alpha):
    a = {"cell": flat_alpha.reshape(6, 3)}
    g = jax.grad(lambda p: loss_fn(p, a, problem["train"])[0])(w)
    if inner.nesterov:
      step = lambda w, g, b: w - xi * ((1 + m) * (g + wd * w) + m * m * b)
    else:
      step = lambda w, g, b: w - xi * (m * b + g + wd * w)
    return loss_fn(jax.tree.map(step, w, g, b), a, problem["val"])[0]

  return jax.jit(objective)


def _central_differences(f, x, h=1e-7):
  # h is small: a larger step crosses ReLU kinks, which the a.e. derivative ignores.
  basis = np.eye(x.size)
  return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in basis])


def _args(problem, inner):
  return problem["params"], problem["alphas"], problem["train"], problem["val"], inner


def _exact(problem, inner):
  return problem["exact"](*_args(problem, inner))


@pytest.mark.parametrize("nesterov", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_exact_hypergradient_equals_finite_differences(problem, nesterov):
  with jax.enable_x64(True):
    inner = _inner(problem, nesterov)
    exact = np.asarray(_exact(problem, inner)).ravel()
    objective = _unrolled_objective(problem, inner)
    fd = _central_differences(objective, np.asarray(problem["alphas"]["cell"]).ravel())
    np.testing.assert_allclose(exact, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max())
    # The check has teeth: the second-order term is far larger than the tolerance.
    first = problem["first"](*_args(problem, inner))
    assert np.abs(exact - np.asarray(first).ravel()).max() > 100 * 1e-4 * np.abs(fd).max()


@pytest.mark.parametrize("radius", [1e-2, 1e-4])
def test_fd_mode_differs_from_exact_only_by_its_hvp_error(problem, radius):
  """FD mode = exact mode - xi * (finite-difference HVP - exact HVP), to float precision.

  The exact mixed Hessian-vector product comes from ``jax.jvp``; the
  finite-difference one is DARTS' central difference at weight radius
  ``radius``, computed here independently of hypergradient.py. (How far the
  two HVPs are apart depends on how many ReLU kinks the perturbation
  crosses; see the module docstring.)
  """
  with jax.enable_x64(True):
    inner = _inner(problem)
    exact = np.asarray(_exact(problem, inner))
    approx = problem["fd"](*_args(problem, inner), radius=jnp.float64(radius))
    hvp, fd_hvp = problem["hvps"](inner, jnp.float64(radius))
    predicted = exact - inner.lr * np.asarray(fd_hvp - hvp)
    np.testing.assert_allclose(approx, predicted, rtol=1e-7, atol=1e-9 * np.abs(exact).max())
    assert not np.allclose(approx, exact, rtol=1e-3)  # the HVP error is real, and visible


def test_unrolled_step_matches_the_weight_optimiser():
  """w' is exactly the weight optimiser's next iterate without clipping (DARTS' unroll)."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(1)
    params = {"a": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=5))}
    buffer = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape)), params)
    alphas = jnp.asarray(rng.normal(size=4))

    def loss_fn(p, a, batch):  # any smooth function coupling w and alpha will do
      return jnp.sum(jnp.tanh(p["a"] @ a * batch)) + jnp.sum(jnp.sin(p["b"]) * a.sum()), None

    grads = jax.grad(lambda p: loss_fn(p, alphas, 2.0)[0])(params)
    config = tiny_config()
    config.optimizer.weights.grad_clip = 0.0
    for nesterov in (False, True):
      config.optimizer.weights.nesterov = nesterov
      tx = optimizers.weight_optimizer(config.optimizer.weights, lambda step: jnp.float64(0.3))
      opt_state = optax.tree_utils.tree_set(tx.init(params), trace=buffer)
      updates, _ = tx.update(grads, opt_state, params)
      expected = jax.tree.map(jnp.add, params, updates)
      inner = hg.InnerStep(
        lr=jnp.float64(0.3),
        momentum_buffer=buffer,
        momentum=0.9,
        weight_decay=3e-4,
        nesterov=nesterov,
      )
      got = hg.unrolled_weights(loss_fn, params, alphas, 2.0, inner)
      for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
