"""The alpha Hessian: HVPs, eigen-solvers against eigvalsh, the L2 shift, DARTS-ES."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import normalized_batch, tiny_config, to_float64

from nasjax.analysis import hessian
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext
from nasjax.errors import ConfigError

WD = 1e-3  # the default alpha weight decay


def _symmetric(eigenvalues, seed=0):
  """A random orthogonal similarity transform of diag(eigenvalues), float64 numpy."""
  q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
  return q @ np.diag(eigenvalues) @ q.T


# -- HVP and the full Hessian on hand-made functions -----------------------


def test_hvp_matches_finite_difference_of_gradients():
  with jax.enable_x64(True):
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(5, 5)))

    def fn(x):
      return jnp.sum(jnp.sin(x) * x**3) + jnp.log1p(jnp.sum((a @ x) ** 2)) + jnp.exp(x[0] * x[1])

    x, v = jnp.asarray(rng.normal(size=5)), jnp.asarray(rng.normal(size=5))
    eps = 1e-5
    grad = jax.grad(fn)
    fd = (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)
    got = hessian.hvp(fn, x, v)
    np.testing.assert_allclose(got, fd, rtol=1e-7, atol=1e-8)
    assert np.linalg.norm(got) > 1.0  # not trivially zero


def test_full_hessian_matches_hand_computation():
  with jax.enable_x64(True):

    def fn(x):
      return x[0] ** 2 * x[1] + jnp.sin(x[2]) * x[0] + 3.0 * x[1] * x[2] ** 2

    x0, x1, x2 = 0.7, -1.3, 0.4
    expected = np.array(
      [
        [2 * x1, 2 * x0, np.cos(x2)],
        [2 * x0, 0.0, 6 * x2],
        [np.cos(x2), 6 * x2, -x0 * np.sin(x2) + 6 * x1],
      ]
    )
    got = hessian.full_hessian(fn, jnp.array([x0, x1, x2]))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- eigen-solvers on hand-built matrices -----------------------------------


@pytest.mark.parametrize(
  "eigenvalues",
  [
    [-10.0, -1.0, 0.5, 2.0, 3.0],  # the most negative one dominates in magnitude
    [-7.0, -6.0, -3.0, -2.0, -0.5],  # all negative
    [-3.0, 3.0, 1.0, 0.0, 0.0],  # +c and -c both dominant
    [4.0, 1.0, 0.5, -0.25, -1.0],  # the ordinary case
  ],
)
def test_power_iteration_returns_largest_algebraic_eigenvalue(eigenvalues):
  with jax.enable_x64(True):
    h = jnp.asarray(_symmetric(eigenvalues))
    x0 = jnp.asarray(np.random.default_rng(2).normal(size=len(eigenvalues)))
    run = jax.jit(lambda x: hessian.power_iteration(lambda v: h @ v, x, 2000, tol=1e-13))
    eig, vec = run(x0)
    assert float(eig) == pytest.approx(max(eigenvalues), rel=1e-9, abs=1e-9)
    if eigenvalues[0] != -eigenvalues[1]:  # a unique top eigenvector (converging more slowly)
      np.testing.assert_allclose(h @ vec, eig * vec, atol=1e-4)


def test_lanczos_exact_at_full_dimension_and_converging_before():
  with jax.enable_x64(True):
    eigenvalues = np.concatenate([np.linspace(-1.0, 1.0, 11), [3.0]])
    h = jnp.asarray(_symmetric(eigenvalues, seed=3))
    x0 = jnp.asarray(np.random.default_rng(4).normal(size=12))
    for num_iters in (12, 40):  # capped at the dimension
      ritz = hessian.lanczos(lambda v: h @ v, x0, num_iters)
      assert ritz.shape == (12,)
      np.testing.assert_allclose(ritz, np.sort(eigenvalues), atol=1e-10)
    ritz = hessian.lanczos(lambda v: h @ v, x0, 8)
    assert ritz.shape == (8,)
    assert float(ritz[-1]) == pytest.approx(3.0, rel=1e-8)  # a well-separated top converges first


def test_lanczos_breakdown_gives_the_spectrum_without_nans():
  with jax.enable_x64(True):
    # Two distinct eigenvalues: the Krylov space is invariant after two steps.
    eigenvalues = [2.0, 2.0, 2.0, -1.0, -1.0, -1.0]
    h = jnp.asarray(_symmetric(eigenvalues, seed=5))
    x0 = jnp.asarray(np.random.default_rng(6).normal(size=6))
    ritz = jax.jit(lambda x: hessian.lanczos(lambda v: h @ v, x, 6))(x0)
    np.testing.assert_allclose(ritz, np.sort(eigenvalues), atol=1e-10)
    zero = hessian.lanczos(lambda v: 0.0 * v, jnp.zeros(4), 4)
    np.testing.assert_array_equal(zero, np.zeros(4))


# -- the tiny NB201 supernet on real CIFAR-10, float64 ---------------------

# Three ops (zero, identity, convolution; 18 logits) keep the compiles short.
OPS = {"space.ops": ("none", "skip_connect", "nor_conv_3x3")}


@pytest.fixture(scope="module")
def problem(cifar_subset):
  """A float64 tiny NB201 search state, two stacked real validation batches, raw jax.hessian."""
  with jax.enable_x64(True):
    setup = make_search_setup(tiny_config(**OPS), steps_per_epoch=10)
    state = setup.init(jax.random.key(0), (32, 32, 3))
    alphas = {"cell": jnp.asarray(0.5 * np.random.default_rng(0).normal(size=(6, 3)))}
    state = state.replace(
      params=to_float64(state.params), batch_stats=to_float64(state.batch_stats), alphas=alphas
    )
    batches = [to_float64(normalized_batch(cifar_subset, 8 * k, 8)) for k in range(2)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *batches)
    fn, x, _ = hessian.alpha_objective(setup, state, stacked)
    raw = np.asarray(jax.jit(jax.hessian(fn))(x))
    reference = np.linalg.eigvalsh(0.5 * (raw + raw.T))
    return dict(setup=setup, state=state, stacked=stacked, x=x, raw=raw, reference=reference)


def _measure(problem, setup, method, **kw):
  with jax.enable_x64(True):
    out = hessian.make_hessian_fn(setup, method, **kw)(problem["state"], problem["stacked"])
    return jax.tree.map(np.asarray, out)


def test_objective_is_the_mean_validation_loss_plus_l2(problem):
  setup, state, stacked = problem["setup"], problem["state"], problem["stacked"]
  with jax.enable_x64(True):
    x = problem["x"]
    np.testing.assert_array_equal(x, np.ravel(state.alphas["cell"]))
    key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(state.rng), 0), 0)
    first = jax.tree.map(lambda a: a[0], stacked)
    padded = {**first, "weight": jnp.array([1.0] * 4 + [0.0] * 4)}

    @jax.jit
    def values(x):
      stacked_fn = hessian.alpha_objective(setup, state, stacked)[0]
      padded_fn = hessian.alpha_objective(setup, state, padded)[0]
      by_hand = jax.vmap(
        lambda batch, k: setup.loss(
          state.params,
          state.alphas,
          batch,
          ForwardContext(state.batch_stats, jax.random.fold_in(key, k)),
        )
      )
      losses, (logits, _) = by_hand(stacked, jnp.arange(2))
      return stacked_fn(x), padded_fn(x), losses, logits[0]

    stacked_val, padded_val, losses, logits = values(x)
    l2 = 0.5 * WD * float(jnp.sum(x**2))
    assert l2 > 1e-3
    assert float(stacked_val) == pytest.approx(float(jnp.mean(losses)) + l2, rel=1e-12)
    # Filler examples (weight 0) still enter the batch statistics, but not the mean loss.
    log_p = jax.nn.log_softmax(logits)[np.arange(8), first["label"]]
    assert float(padded_val) == pytest.approx(-float(jnp.mean(log_p[:4])) + l2, rel=1e-12)
    assert float(padded_val) != pytest.approx(float(losses[0]) + l2, rel=1e-6)


def test_raw_hessian_is_symmetric(problem):
  raw = problem["raw"]
  assert raw.shape == (18, 18)
  assert np.abs(raw).max() > 1e-3
  np.testing.assert_allclose(raw, raw.T, rtol=0, atol=1e-12 * np.abs(raw).max())


def test_l2_term_shifts_every_eigenvalue_by_wd(problem):
  setup0 = make_search_setup(
    tiny_config(**OPS, **{"optimizer.alpha.weight_decay": 0.0}), steps_per_epoch=10
  )
  out = _measure(problem, setup0, "full")
  reference = problem["reference"]
  assert out["eigenvalues"].shape == (18,)
  assert np.all(np.diff(out["eigenvalues"]) >= 0)
  assert out["max_eig"] == out["eigenvalues"][-1]
  np.testing.assert_allclose(reference - out["eigenvalues"], WD, rtol=0, atol=1e-12)
  # Softmax is shift-invariant: one flat direction per edge, whose curvature is the L2 term alone.
  assert np.sum(np.abs(reference - WD) < 1e-12) == 6


def test_lanczos_finds_the_spectrum(problem):
  reference = problem["reference"]
  out = _measure(problem, problem["setup"], "lanczos", num_iters=18)
  np.testing.assert_allclose(out["eigenvalues"], reference, rtol=0, atol=1e-12)
  assert float(out["max_eig"]) == pytest.approx(reference[-1], rel=1e-10)


def test_power_iteration_on_the_supernet_hessian(problem):
  reference = problem["reference"]
  # The most negative eigenvalue dominates in magnitude here: power iteration must shift.
  assert -reference[0] > reference[-1] > 0
  with jax.enable_x64(True):
    h = jnp.asarray(0.5 * (problem["raw"] + problem["raw"].T))
    start = jax.random.normal(jax.random.key(0), (18,), jnp.float64)
    eig, _ = jax.jit(lambda x: hessian.power_iteration(lambda v: h @ v, x, 50_000, 1e-15))(start)
  assert float(eig) == pytest.approx(reference[-1], rel=1e-8)


@pytest.mark.slow
def test_power_method_with_hessian_vector_products(problem):
  reference = problem["reference"]
  out = _measure(problem, problem["setup"], "power", num_iters=5000, tol=1e-13)
  assert out["eigenvalues"].shape == (1,)
  assert float(out["max_eig"]) == pytest.approx(reference[-1], rel=1e-6)


def test_alpha_hessian_returns_host_values(problem):
  setup, state = problem["setup"], problem["state"]
  with jax.enable_x64(True):  # the program of the Lanczos test: a compilation-cache hit
    out = hessian.alpha_hessian(setup, state, problem["stacked"], method="lanczos", num_iters=18)
  assert isinstance(out["max_eig"], float)
  assert isinstance(out["eigenvalues"], np.ndarray) and out["eigenvalues"].shape == (18,)
  assert out["max_eig"] == pytest.approx(problem["reference"][-1], rel=1e-10)


def test_make_hessian_fn_rejects_bad_arguments(problem):
  with pytest.raises(ConfigError, match="hessian_method"):
    hessian.make_hessian_fn(problem["setup"], "arnoldi")
  with pytest.raises(ConfigError, match="hessian_iters"):
    hessian.make_hessian_fn(problem["setup"], "power", num_iters=0)


# -- DARTS-ES ---------------------------------------------------------------


def test_should_stop_early_threshold():
  before = [1.0, 2.0, 1.5, 0.5, 1.0]  # mean 1.2; the factor 1.3 puts the threshold at 1.56
  assert not hessian.should_stop_early(before + [1.55] * 5)
  assert hessian.should_stop_early(before + [1.57] * 5)
  assert hessian.should_stop_early(before + [1.0, 1.0, 1.0, 1.0, 3.85])  # mean 1.57
  assert not hessian.should_stop_early(before + [1.0, 1.0, 1.0, 1.0, 3.75])  # mean 1.55
  # Only the last 2 * window values count.
  assert hessian.should_stop_early([100.0] * 7 + before + [1.57] * 5)
  # Too few values, or no growth.
  assert not hessian.should_stop_early(before[1:] + [10.0] * 5)
  assert not hessian.should_stop_early([1.0] * 20)
  assert hessian.should_stop_early([1.0, 1.0, 2.0, 2.0], window=2, factor=1.3)
  assert not hessian.should_stop_early([1.0, 1.0, 2.0, 2.0], window=2, factor=2.0)
  with pytest.raises(ConfigError, match="window"):
    hessian.should_stop_early([1.0] * 4, window=0)
