"""Regularisers against hand computations, their limits, schedules and composition."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from nasjax.config.search import search_config
from nasjax.core import regularizers as R
from nasjax.core import schedules
from nasjax.core.optimizers import alpha_optimizer
from nasjax.core.relax import Softmax
from nasjax.errors import ConfigError

X = np.array([-3.0, -1.2, -0.3, 0.0, 0.2, 0.9, 2.5])


def _sa_by_hand(x, a, mu):
  return 0.5 * ((1 + a) * x + (1 - a) * x * math.erf(mu * (1 - a) * x))


def _sa_grad_by_hand(x, a, mu):
  u = mu * (1 - a) * x
  return 0.5 * (
    (1 + a)
    + (1 - a) * math.erf(u)
    + (1 - a) * x * mu * (1 - a) * 2 / math.sqrt(math.pi) * math.exp(-u * u)
  )


@pytest.mark.parametrize("a,mu", [(0.25, 2.0), (0.75, 0.5), (0.0, 1.0), (1.0, 3.0)])
def test_sa_value_and_gradient_by_hand(a, mu):
  with jax.enable_x64(True):
    x = jnp.asarray(X, jnp.float64)
    np.testing.assert_allclose(
      R.smooth_activation(x, a, mu), [_sa_by_hand(v, a, mu) for v in X], rtol=1e-12
    )
    grad = jax.vmap(jax.grad(lambda v: R.smooth_activation(v, a, mu)))(x)
    np.testing.assert_allclose(grad, [_sa_grad_by_hand(v, a, mu) for v in X], rtol=1e-12)
    assert float(R.sa_penalty(x.reshape(1, -1), a, mu)) == pytest.approx(
      sum(_sa_by_hand(v, a, mu) for v in X), rel=1e-12
    )


def test_sa_limits():
  with jax.enable_x64(True):
    x = jnp.asarray(X, jnp.float64)
    for a in (0.0, 0.25, 0.75):  # mu -> infinity: leaky ReLU with negative slope a
      np.testing.assert_allclose(
        R.smooth_activation(x, a, 1e6), np.where(X > 0, X, a * X), rtol=1e-12, atol=1e-12
      )
    # a = 0, mu = 1/sqrt(2): GELU.
    np.testing.assert_allclose(
      R.smooth_activation(x, 0.0, 1 / math.sqrt(2)), jax.nn.gelu(x, approximate=False), rtol=1e-12
    )
    z = x.reshape(1, -1)
    # a = 1 (Eq. 8): the sum of alpha, or its mean; any mu.
    assert float(R.sa_penalty(z, 1.0, 5.0)) == pytest.approx(X.sum(), abs=1e-12)
    assert float(R.sa_penalty(z, 1.0, 5.0, "mean")) == pytest.approx(X.mean(), abs=1e-12)
    # mu = 0: (1 + a) / 2 times the sum.
    assert float(R.sa_penalty(z, 0.5, 0.0)) == pytest.approx(0.75 * X.sum(), abs=1e-12)
    np.testing.assert_allclose(jax.grad(lambda z: R.sa_penalty(z, 1.0, 0.0))(z), np.ones_like(z))


def test_beta_decay_entropy_l2_by_hand():
  with jax.enable_x64(True):
    z = jnp.asarray(np.random.default_rng(0).normal(size=(6, 5)), jnp.float64)
    zn = np.asarray(z)
    lse = np.log(np.exp(zn).sum(-1))
    assert float(R.beta_decay(z)) == pytest.approx(lse.mean(), rel=1e-12)
    p = np.exp(zn - lse[:, None])
    np.testing.assert_allclose(jax.grad(R.beta_decay)(z), p / 6, rtol=1e-12)

    h = -(p * np.log(p)).sum(-1)
    ent = lambda z: R.entropy(jax.nn.softmax(z, -1))
    assert float(ent(z)) == pytest.approx(h.sum(), rel=1e-12)
    np.testing.assert_allclose(
      jax.grad(ent)(z), -p * (np.log(p) + h[:, None]), rtol=1e-9, atol=1e-12
    )
    assert float(R.entropy(jnp.full((3, 4), 0.25))) == pytest.approx(3 * math.log(4))
    assert float(R.entropy(jnp.eye(4))) == 0.0
    assert np.all(np.isfinite(jax.grad(lambda p: R.entropy(p))(jnp.eye(4))))

    assert float(R.l2(z)) == pytest.approx(0.5 * (zn**2).sum(), rel=1e-12)
    np.testing.assert_allclose(jax.grad(R.l2)(z), zn, rtol=1e-12)


def test_schedules():
  const = schedules.schedule("constant", 0.3)
  assert [float(const(e)) for e in (0, 7, 100)] == pytest.approx([0.3, 0.3, 0.3])
  beta = schedules.schedule("linear", 50.0, 0.0, 100)  # Beta-DARTS: 50 * epoch / 100
  assert [float(beta(e)) for e in (0, 1, 40, 99)] == pytest.approx([0, 0.5, 20, 49.5])
  sa = schedules.schedule("linear", 10.0, 0.0, 50)  # SA: epoch / 5 over 50 epochs
  assert [float(sa(e)) for e in (0, 5, 49)] == pytest.approx([0, 1, 9.8])
  ramp = schedules.schedule("linear", 1.0, 0.2, 4)  # from start to strength, then flat
  assert [float(ramp(e)) for e in (0, 2, 4, 9)] == pytest.approx([0.2, 0.6, 1.0, 1.0])
  slope = schedules.schedule("slope", 0.0, 0.1, slope=0.2)  # SA: start + epoch / 5, never capped
  assert [float(slope(e)) for e in (0, 5, 49, 200)] == pytest.approx([0.1, 1.1, 9.9, 40.1])


def test_slope_schedules_do_not_depend_on_the_search_length():
  cfg = {"schedule": "slope", "slope": 0.5}
  short, long = schedules.schedule_values(cfg, 3), schedules.schedule_values(cfg, 100)
  assert short == long[:3] == [0.0, 0.5, 1.0]
  linear = {"schedule": "linear", "strength": 10.0}  # ramp 0: over the whole search
  assert schedules.schedule_values(linear, 50)[-1] == pytest.approx(9.8)
  assert schedules.schedule_values(linear, 10)[-1] == pytest.approx(9.0)
  assert schedules.describe_schedule(linear, 50) == (
    "lambda_t = 10 * min(epoch / 50, 1) (0 at epoch 0, 9.8 at epoch 49)"
  )
  reg = R.make_regularizer(_cfg(beta_decay=dict(schedule="slope", slope=0.5)), 7, Softmax().probs)
  _, parts = reg({"cell": jnp.zeros((6, 5))}, 6)
  assert float(parts["reg/beta_decay_lambda"]) == pytest.approx(3.0)


@pytest.mark.parametrize("field,value", [("strength", 10.0), ("ramp_epochs", 10)])
def test_a_slope_schedule_refuses_fields_it_would_ignore(field, value):
  cfg = _cfg(sa=dict(schedule="slope", slope=0.2, **{field: value}))
  with pytest.raises(ConfigError, match=f"config.regularizers.sa.{field}={value} is not used by"):
    R.make_regularizer(cfg, 50, Softmax().probs)


def _cfg(**regs):
  base = search_config().regularizers
  for name, fields in regs.items():
    base[name].update(dict(enabled=True, **fields))
  return base


def test_composition_weights_and_sums_the_terms():
  with jax.enable_x64(True):
    relax = Softmax(temperature=2.0)
    cfg = _cfg(
      sa=dict(schedule="linear", strength=10.0, a=0.5, mu=1.0),
      entropy=dict(schedule="constant", strength=0.1, apply_to="probs"),
      l2=dict(schedule="constant", strength=0.01, apply_to="logits"),
    )
    reg = R.make_regularizer(cfg, total_epochs=50, probs=relax.probs)
    alphas = {"cell": jnp.asarray(np.random.default_rng(1).normal(size=(6, 5)), jnp.float64)}
    total, parts = reg(alphas, 20)
    z = alphas["cell"]
    p = jax.nn.softmax(z / 2.0, -1)
    expected = {
      "sa": 4.0 * R.sa_penalty(z, 0.5, 1.0),
      "entropy": 0.1 * R.entropy(p),
      "l2": 0.01 * R.l2(z),
    }
    for name, value in expected.items():
      assert float(parts[f"reg/{name}"]) == pytest.approx(float(value), rel=1e-6)
    assert float(parts["reg/sa_lambda"]) == pytest.approx(4.0)
    assert float(total) == pytest.approx(sum(float(v) for v in expected.values()), rel=1e-6)
    assert sorted(reg.names) == ["entropy", "l2", "sa"]


def test_disabled_regularisers_contribute_nothing():
  reg = R.make_regularizer(search_config().regularizers, 50, Softmax().probs)
  total, parts = reg({"cell": jnp.ones((6, 5))}, 3)
  assert float(total) == 0.0 and parts == {}


@pytest.mark.parametrize(
  "edit,message",
  [
    (
      lambda c: c.__setitem__("bogus", ml_collections.ConfigDict({"enabled": True})),
      "unknown regulariser",
    ),
    (lambda c: c.sa.update(enabled=True, schedule="cosine"), "schedule"),
    (lambda c: c.entropy.update(enabled=True, apply_to="weights"), "apply_to"),
    (lambda c: c.sa.update(enabled=True, mu=-1.0), "mu"),
    (lambda c: c.l2.update(enabled=True, reduction="max"), "reduction"),
    (lambda c: c.beta_decay.update(enabled=False, schedule="cosine"), "schedule"),
  ],
)
def test_bad_regulariser_config_names_the_field(edit, message):
  cfg = search_config().regularizers
  edit(cfg)
  with pytest.raises(ConfigError, match=message):
    R.make_regularizer(cfg, 50, Softmax().probs)


def test_unknown_regulariser_field_is_an_error():
  cfg = ml_collections.ConfigDict({"sa": {"enabled": True, "alpha_slope": 0.2}})
  with pytest.raises(ConfigError, match="alpha_slope"):
    R.make_regularizer(cfg, 50, Softmax().probs)


def _run_alpha(tx, steps=40, sa_strength=0.0):
  """Alpha optimised on a fixed validation objective, optionally plus Eq. 8."""
  rng = np.random.default_rng(3)
  target = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
  alpha = {"cell": 1e-3 * jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)}

  def objective(a):
    p = jax.nn.softmax(a["cell"], -1)
    return -jnp.sum(jax.nn.log_softmax(target, -1) * p) + sa_strength * R.sa_penalty(a["cell"])

  state = tx.init(alpha)
  for _ in range(steps):
    grads = jax.grad(objective)(alpha)
    updates, state = tx.update(grads, state, alpha)
    alpha = optax.apply_updates(alpha, updates)
  return jax.nn.softmax(alpha["cell"], -1)


def test_sa_eq8_changes_probabilities_under_adam_but_not_under_sgd():
  """Eq. 8 adds the same constant to every logit's gradient: invisible to softmax
  under SGD (a uniform shift), but Adam rescales each coordinate, so p moves."""
  cfg = search_config().optimizer.alpha
  cfg.weight_decay = 0.0  # SA runs turn alpha weight decay off
  adam = alpha_optimizer(cfg)
  p_plain, p_sa = _run_alpha(adam), _run_alpha(adam, sa_strength=1.0)
  assert float(jnp.max(jnp.abs(p_plain - p_sa))) > 1e-3
  sgd = optax.sgd(0.1)
  np.testing.assert_allclose(_run_alpha(sgd), _run_alpha(sgd, sa_strength=1.0), atol=1e-6)


def _kl_beta_by_integration(a, b, m=8):
  """KL(Beta(a, b) || Beta(1, 1)) = int_0^1 p log p, by quadrature.

  Substituting ``x = t^m`` near 0 and ``1 - x = t^m`` near 1 removes the
  density's endpoint singularities (concentrations below 1).
  """
  from scipy import integrate

  log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)

  def p_log_p(log_x, log_1mx):
    log_p = log_norm + (a - 1) * log_x + (b - 1) * log_1mx
    return math.exp(log_p) * log_p

  def near_0(t):
    x = t**m
    return m * t ** (m - 1) * p_log_p(m * math.log(t), math.log1p(-x))

  def near_1(t):
    y = t**m
    return m * t ** (m - 1) * p_log_p(math.log1p(-y), m * math.log(t))

  end = 0.5 ** (1 / m)
  opts = dict(limit=200, epsabs=1e-13, epsrel=1e-11)
  return integrate.quad(near_0, 0.0, end, **opts)[0] + integrate.quad(near_1, 0.0, end, **opts)[0]


@pytest.mark.parametrize("theta", [(0.5, 1.3), (-0.5, 0.7), (2.0, -1.5)])
def test_dirichlet_kl_two_ops_is_the_beta_kl_by_integration(theta):
  conc = [t + 1 if t > 0 else math.exp(t) for t in theta]  # ELU + 1
  with jax.enable_x64(True):
    got = float(R.dirichlet_kl(jnp.asarray([theta], jnp.float64)))
  assert got == pytest.approx(_kl_beta_by_integration(*conc), rel=1e-7, abs=1e-10)


def test_dirichlet_kl_by_hand_sums_edges_and_has_its_gradient():
  rng = np.random.default_rng(4)
  theta = rng.normal(size=(6, 5))
  c = np.where(theta > 0, theta + 1, np.exp(theta))
  c0 = c.sum(-1)
  from scipy.special import digamma, gammaln

  per_edge = (
    gammaln(c0)
    - gammaln(c).sum(-1)
    - gammaln(5)
    + ((c - 1) * (digamma(c) - digamma(c0)[:, None])).sum(-1)
  )
  assert np.all(per_edge > 0)
  with jax.enable_x64(True):
    z = jnp.asarray(theta, jnp.float64)
    assert float(R.dirichlet_kl(z)) == pytest.approx(per_edge.sum(), rel=1e-10)
    assert float(R.dirichlet_kl(z, "mean")) == pytest.approx(per_edge.mean(), rel=1e-10)
    assert float(R.dirichlet_kl(jnp.zeros((6, 5)))) == 0.0  # Dir(1) itself
    grad = np.asarray(jax.grad(R.dirichlet_kl)(z))
    eps = 1e-6
    for idx in [(0, 0), (2, 3), (5, 4)]:
      dz = np.zeros_like(theta)
      dz[idx] = eps
      fd = (float(R.dirichlet_kl(z + dz)) - float(R.dirichlet_kl(z - dz))) / (2 * eps)
      assert grad[idx] == pytest.approx(fd, rel=1e-6)


def test_dirichlet_kl_is_registered_and_acts_on_logits_only():
  cfg = _cfg(dirichlet_kl=dict(schedule="constant", strength=1e-3))
  reg = R.make_regularizer(cfg, total_epochs=50, probs=Softmax().probs)
  alphas = {
    "normal": jnp.asarray(np.random.default_rng(5).normal(size=(14, 8)), jnp.float32),
    "reduce": jnp.asarray(np.random.default_rng(6).normal(size=(14, 8)), jnp.float32),
  }
  total, parts = reg(alphas, 3)
  expected = 1e-3 * sum(float(R.dirichlet_kl(a)) for a in alphas.values())
  assert float(parts["reg/dirichlet_kl"]) == pytest.approx(expected, rel=1e-5)
  assert float(total) == pytest.approx(expected, rel=1e-5)
  assert not search_config().regularizers.dirichlet_kl.enabled
  bad = _cfg(dirichlet_kl=dict(apply_to="probs"))
  with pytest.raises(ConfigError, match="dirichlet_kl.apply_to"):
    R.make_regularizer(bad, 50, Softmax().probs)
