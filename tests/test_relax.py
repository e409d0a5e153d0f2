"""Relaxations: Gumbel-softmax (SNAS/GDAS) and Dirichlet (DrNAS) against their definitions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import normalized_batch, tiny_config

from nasjax.core.relax import Dirichlet, GumbelSoftmax, Softmax, make_relaxation, relaxation_config
from nasjax.core.setup import make_search_setup
from nasjax.errors import ConfigError

LOGITS = np.array([1.0, 0.0, -1.0, 0.5, -0.5], np.float32)
N = 20000


def _darts_like(seed=0):
  """A two-tensor alpha pytree shaped like the DARTS space's."""
  rng = np.random.default_rng(seed)
  return {k: jnp.asarray(rng.normal(size=(14, 8)), jnp.float32) for k in ("normal", "reduce")}


def _rows(alpha, n=N):
  return {"x": jnp.broadcast_to(jnp.asarray(alpha), (n, len(alpha)))}


def _softmax(x):
  e = np.exp(x - x.max())
  return e / e.sum()


# -- Gumbel-softmax --------------------------------------------------------------


def test_gumbel_samples_lie_on_the_simplex_and_concentrate_as_tau_shrinks():
  alphas = _darts_like()
  relax = GumbelSoftmax()
  key = jax.random.key(0)
  mean_max = []
  for tau in (5.0, 1.0, 0.1, 0.01):
    w = relax.sample(alphas, key, tau)
    assert jax.tree.structure(w) == jax.tree.structure(alphas)
    for name in alphas:
      assert w[name].shape == (14, 8)
      assert np.all(np.asarray(w[name]) >= 0)
      np.testing.assert_allclose(np.asarray(w[name]).sum(-1), 1.0, rtol=1e-5)
    mean_max.append(float(np.mean([np.asarray(w[k]).max(-1).mean() for k in alphas])))
  assert mean_max == sorted(mean_max), mean_max
  assert mean_max[-1] > 0.97 and mean_max[0] < 0.5
  # Different tensors get independent noise even with equal logits.
  same = {"normal": alphas["normal"], "reduce": alphas["normal"]}
  w = relax.sample(same, key, 1.0)
  assert not np.allclose(w["normal"], w["reduce"])


def test_gumbel_hard_is_one_hot_with_straight_through_gradients():
  alphas = _darts_like(1)
  key = jax.random.key(3)
  hard, soft = GumbelSoftmax(hard=True), GumbelSoftmax(hard=False)
  w_hard, w_soft = hard.sample(alphas, key, 0.5), soft.sample(alphas, key, 0.5)
  for name in alphas:
    h = np.asarray(w_hard[name])
    assert set(np.unique(h)) == {0.0, 1.0}
    np.testing.assert_array_equal(h.sum(-1), 1.0)
    np.testing.assert_array_equal(h.argmax(-1), np.asarray(w_soft[name]).argmax(-1))
  c = jnp.asarray(np.random.default_rng(2).normal(size=(14, 8)), jnp.float32)

  def objective(relax):
    return lambda a: sum(jnp.sum(c * w) for w in jax.tree.leaves(relax.sample(a, key, 0.5)))

  g_hard, g_soft = jax.grad(objective(hard))(alphas), jax.grad(objective(soft))(alphas)
  for name in alphas:  # straight-through: the backward pass is the soft sample's
    np.testing.assert_allclose(g_hard[name], g_soft[name], rtol=1e-6, atol=1e-7)
    assert np.all(np.isfinite(g_hard[name])) and float(jnp.abs(g_hard[name]).max()) > 1e-3


@pytest.mark.parametrize("hard,tau", [(True, 1.0), (False, 0.05)])
def test_gumbel_argmax_frequencies_match_softmax(hard, tau):
  """The Gumbel-max property: argmax(alpha + g) is op o with probability softmax(alpha)_o."""
  w = np.asarray(GumbelSoftmax(hard=hard).sample(_rows(LOGITS), jax.random.key(7), tau)["x"])
  freq = np.bincount(w.argmax(-1), minlength=5) / N
  p = _softmax(LOGITS.astype(np.float64))
  np.testing.assert_allclose(freq, p, atol=5 * np.sqrt(p * (1 - p) / N).max())
  if not hard:  # at a small temperature the soft samples are nearly one-hot already
    assert np.mean(w.max(-1) > 0.9) > 0.9


def test_temperature_schedules_by_hand():
  t = 50
  exp = GumbelSoftmax(tau_start=1.0, tau_end=0.03, schedule="exponential", total_epochs=t)
  lin = GumbelSoftmax(tau_start=10.0, tau_end=0.1, schedule="linear", total_epochs=t)
  const = GumbelSoftmax(tau_start=2.0, tau_end=0.1, schedule="constant", total_epochs=t)
  epochs = (0, t // 2, t, 2 * t)
  got = lambda relax: [float(relax.temperature(e)) for e in epochs]
  assert got(exp) == pytest.approx([1.0, math.sqrt(0.03), 0.03, 0.03], rel=1e-6)
  assert got(lin) == pytest.approx([10.0, 5.05, 0.1, 0.1], rel=1e-5)
  assert got(const) == pytest.approx([2.0] * 4)
  # Traced epochs (inside the jitted step) give the same values.
  traced = jax.jit(exp.temperature)(jnp.asarray(t // 2, jnp.int32))
  assert float(traced) == pytest.approx(math.sqrt(0.03), rel=1e-6)
  # The step's weights use tau_t: at the end of the search they are nearly one-hot.
  alphas = _darts_like()
  key = jax.random.key(1)
  late = exp.weights(alphas, key, True, jnp.asarray(t, jnp.int32))
  np.testing.assert_allclose(late["normal"], exp.sample(alphas, key, 0.03)["normal"], rtol=1e-6)


def test_gumbel_is_deterministic_softmax_outside_training():
  alphas = _darts_like()
  relax = GumbelSoftmax(hard=True, total_epochs=10)
  for w in (relax.weights(alphas, None, False, 3), relax.probs(alphas)):
    for name in alphas:
      np.testing.assert_allclose(w[name], jax.nn.softmax(alphas[name], -1), rtol=1e-6)
  with pytest.raises(ValueError, match="rng"):
    relax.weights(alphas, None, True, 0)


# -- Dirichlet ------------------------------------------------------------------

THETA = np.array([0.8, -0.5, 0.0, 1.5, -2.0], np.float32)


def _conc(theta):
  theta = np.asarray(theta, np.float64)
  return np.where(theta > 0, theta + 1.0, np.exp(theta))  # ELU + 1


def test_dirichlet_samples_lie_on_the_simplex_with_the_right_mean():
  relax = Dirichlet()
  w = np.asarray(relax.weights(_rows(THETA), jax.random.key(0), True, 0)["x"], np.float64)
  assert np.all(w >= 0)
  np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-5)
  c = _conc(THETA)
  mean = c / c.sum()
  se = np.sqrt(mean * (1 - mean) / (c.sum() + 1) / N)  # Dirichlet marginal variance
  np.testing.assert_allclose(w.mean(0), mean, atol=5 * se.max())
  np.testing.assert_allclose(relax.probs({"x": jnp.asarray(THETA)})["x"], mean, rtol=1e-5)
  np.testing.assert_allclose(relax.weights({"x": jnp.asarray(THETA)}, None, False, 0)["x"], mean)
  tree = relax.weights(_darts_like(), jax.random.key(1), True, 0)
  for v in tree.values():
    assert v.shape == (14, 8)
    np.testing.assert_allclose(np.asarray(v).sum(-1), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="rng"):
    relax.weights(_darts_like(), None, True, 0)


def test_dirichlet_reparameterisation_gradient_matches_the_mean_by_monte_carlo():
  """E[grad_theta c.x] over samples equals grad_theta c.E[x] = grad_theta c.conc/sum(conc)."""
  relax = Dirichlet()
  c = jnp.asarray([0.3, -1.0, 2.0, 0.5, -0.2])
  theta = jnp.asarray(THETA)
  analytic = jax.grad(lambda t: jnp.dot(c, relax.probs({"x": t})["x"]))(theta)

  def sample_grad(key):
    return jax.grad(lambda t: jnp.dot(c, relax.weights({"x": t}, key, True, 0)["x"]))(theta)

  grads = np.asarray(jax.jit(jax.vmap(sample_grad))(jax.random.split(jax.random.key(5), N)))
  assert np.all(np.isfinite(grads))
  se = grads.std(0) / np.sqrt(N)
  assert np.all(np.abs(np.asarray(analytic)) > 10 * se)  # the check below is not vacuous
  np.testing.assert_allclose(grads.mean(0), analytic, atol=5 * se.max())


# -- building from the config ---------------------------------------------------


def test_make_relaxation_builds_each_relaxation_from_its_config():
  assert make_relaxation(relaxation_config("softmax")) == Softmax(1.0)
  gumbel = make_relaxation(relaxation_config("gumbel", hard=True, tau_end=0.1), total_epochs=7)
  assert gumbel == GumbelSoftmax(tau_end=0.1, hard=True, total_epochs=7)
  assert make_relaxation({"name": "dirichlet"}) == Dirichlet()
  assert sorted(relaxation_config("gumbel")) == [
    "hard",
    "name",
    "schedule",
    "tau_end",
    "tau_start",
  ]


@pytest.mark.parametrize(
  "cfg,message",
  [
    ({"name": "sparsemax"}, "'sparsemax'"),
    ({"name": "gumbel", "temperature": 1.0}, "temperature"),
    ({"name": "gumbel", "total_epochs": 3}, "total_epochs"),
    ({"name": "dirichlet", "tau_start": 1.0}, "tau_start"),
    ({"name": "gumbel", "tau_end": 0.0}, "tau_end"),
    ({"name": "gumbel", "schedule": "cosine"}, "schedule"),
    ({"name": "gumbel", "hard": "yes"}, "hard"),
    ({"name": "softmax", "temperature": -1.0}, "temperature"),
  ],
)
def test_bad_relaxation_config_names_the_field(cfg, message):
  with pytest.raises(ConfigError, match=message):
    make_relaxation(cfg, total_epochs=10)


def test_bad_relaxation_in_a_search_config_is_a_config_error():
  config = tiny_config()
  config.relaxation.name = "gumbel"  # softmax's temperature field is left behind
  with pytest.raises(ConfigError, match="temperature"):
    make_search_setup(config, steps_per_epoch=4)
  config.relaxation = relaxation_config("gumbel")
  make_search_setup(config, steps_per_epoch=4)


# -- inside a real search step ------------------------------------------------------


@pytest.fixture(scope="module")
def batches(cifar_subset):
  return [normalized_batch(cifar_subset, 8 * k, 8) for k in range(2)]


@pytest.mark.parametrize(
  "relaxation",
  [
    relaxation_config("gumbel"),
    relaxation_config("gumbel", hard=True),
    relaxation_config("dirichlet"),
  ],
  ids=["gumbel", "gumbel_hard", "dirichlet"],
)
def test_search_step_runs_and_alpha_gets_gradient(batches, relaxation):
  config = tiny_config(relaxation=relaxation)
  config.optimizer.alpha.weight_decay = 0.0  # so alpha's gradient is the hypergradient alone
  if relaxation.name == "dirichlet":
    config.regularizers.dirichlet_kl.enabled = True
  setup = make_search_setup(config, steps_per_epoch=4)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  before = np.asarray(state.alphas["cell"])
  step = jax.jit(setup.step)
  new, metrics = step(state, batches[0], batches[1])
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert float(metrics["alpha/grad_norm"]) > 1e-6  # the hypergradient reaches alpha
  assert not np.allclose(np.asarray(new.alphas["cell"]), before)
  if relaxation.name == "dirichlet":
    assert float(metrics["reg/dirichlet_kl"]) >= 0.0
  # The sample depends on the step's rng: another seed gives another training loss.
  other = setup.init(jax.random.key(0), (32, 32, 3)).replace(rng=state.rng + 1)
  _, metrics_other = step(other, batches[0], batches[1])
  assert float(metrics_other["train/loss"]) != float(metrics["train/loss"])
