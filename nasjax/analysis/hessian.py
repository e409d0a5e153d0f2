"""The Hessian of the validation loss with respect to alpha, and its dominant eigenvalue.

RobustDARTS (Zela et al., ICLR 2020) tracks the dominant eigenvalue of
``H = nabla^2_alpha L_val(w, alpha)`` during a search: it grows as the
search drifts towards sharp, poorly generalising architectures. Here ``H``
is the Hessian of the training-mode validation loss (batch-norm on batch
statistics, :meth:`nasjax.core.bilevel.SearchSetup.loss`, whose new statistics are
discarded), averaged over a few validation batches, plus the alpha optimiser's
coupled L2 term ``0.5 * wd * ||alpha||^2`` (which adds ``wd * I``). Only alpha
is differentiated; the weights, the edge logits (betas) and any projection
stay fixed. Stochastic relaxations (Gumbel, Dirichlet) draw their sample
from a fixed key, so ``H`` is the Hessian of one deterministic function.

Alpha is small (30 logits on NAS-Bench-201, 224 on the DARTS space), so the
full Hessian (:func:`full_hessian`) is cheap; for larger spaces
:func:`power_iteration` and :func:`lanczos` need only Hessian-vector
products (:func:`hvp`, forward-over-reverse). :func:`make_hessian_fn`
compiles the measurement once for a search; :func:`should_stop_early` is the
DARTS-ES rule on the sequence of measured eigenvalues.

The formulas, defaults and their sources: ``docs/methods.md`` (Hessian and DARTS-ES).

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.analysis import hessian
  >>> a = jnp.array([[3.0, 1.0], [1.0, 2.0]])
  >>> fn = lambda x: 0.5 * x @ a @ x
  >>> hessian.full_hessian(fn, jnp.zeros(2))
  Array([[3., 1.],
         [1., 2.]], dtype=float32)
  >>> hessian.hvp(fn, jnp.zeros(2), jnp.array([1.0, 0.0]))
  Array([3., 1.], dtype=float32)
  >>> matvec = lambda v: a @ v
  >>> eig, _ = hessian.power_iteration(matvec, jnp.ones(2), num_iters=100)
  >>> round(float(eig), 4)  # (5 + sqrt(5)) / 2
  3.618
  >>> [round(float(e), 4) for e in hessian.lanczos(matvec, jnp.ones(2), num_iters=5)]
  [1.382, 3.618]
  >>> hessian.should_stop_early([1.0] * 5 + [1.4] * 5)
  True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from nasjax.core.state import ForwardContext
from nasjax.errors import ConfigError

Array = jax.Array
PyTree = Any

METHODS = ("full", "lanczos", "power")


def hvp(fn: Callable[[Array], Array], x: Array, v: Array) -> Array:
  """The Hessian-vector product ``nabla^2 fn(x) @ v``, forward over reverse.

  Args:
    fn: a scalar function of a flat vector.
    x: the point, shape ``(n,)``.
    v: the direction, shape ``(n,)``.

  Returns:
    ``(n,)``: the directional derivative of ``grad(fn)`` at ``x`` along ``v``.
  """
  return jax.jvp(jax.grad(fn), (x,), (v,))[1]


def full_hessian(fn: Callable[[Array], Array], x: Array) -> Array:
  """The symmetrised Hessian ``(H + H^T) / 2`` of a scalar function of a flat vector.

  Args:
    fn: a scalar function of a flat vector.
    x: the point, shape ``(n,)``.

  Returns:
    ``(n, n)``: ``jax.hessian(fn)(x)``, symmetrised.
  """
  h = jax.hessian(fn)(x)
  return 0.5 * (h + h.T)


def hessian_by_rows(fn: Callable[[Array], Array], x: Array) -> Array:
  """The symmetrised Hessian assembled from ``n`` Hessian-vector products, one after another.

  The same matrix as :func:`full_hessian` (``jax.hessian`` is these products
  batched with ``vmap``), but ``lax.map`` keeps one product in the compiled
  program: on a supernet it compiles several times faster, because XLA does
  not constant-fold the ``n``-fold batched zero tangents.

  Args:
    fn: a scalar function of a flat vector.
    x: the point, shape ``(n,)``.
  """
  h = jax.lax.map(lambda v: hvp(fn, x, v), jnp.eye(x.shape[0], dtype=x.dtype))
  return 0.5 * (h + h.T)


def power_iteration(
  matvec: Callable[[Array], Array], x0: Array, num_iters: int, tol: float = 1e-7
) -> tuple[Array, Array]:
  """The largest *algebraic* eigenvalue of a symmetric operator, by power iteration.

  Plain power iteration finds the eigenvalue of largest magnitude,
  ``lambda_1`` (its magnitude as ``||H v||``, which converges even when
  ``+c`` and ``-c`` are both dominant; its sign that of ``v^T H v``). When
  that is negative, the largest algebraic eigenvalue is found by a second
  run from ``x0`` on ``H - lambda_1 I`` (positive semi-definite, with
  dominant eigenvalue ``lambda_max - lambda_1``) and shifted back. Each run
  stops after ``num_iters`` products or once the estimate's relative change
  is ``<= tol``. Jittable: both runs are one ``lax.while_loop`` with one
  ``matvec`` in its body.

  Args:
    matvec: ``v -> H @ v`` for a symmetric ``H`` (e.g. ``partial(hvp, fn, x)``).
    x0: the non-zero start vector, shape ``(n,)``, not orthogonal to the
      wanted eigenvector.
    num_iters: the most matrix-vector products per run.
    tol: relative change of the estimate at which a run stops.

  Returns:
    ``(eigenvalue, unit eigenvector estimate)``.
  """
  v0 = x0 / jnp.linalg.norm(x0)
  dtype = v0.dtype
  tiny = jnp.finfo(dtype).tiny

  def body(carry):
    phase, i, v, lam, shift = carry
    hv = matvec(v) - shift * v
    norm = jnp.linalg.norm(hv)
    new = jnp.where(jnp.vdot(v, hv) < 0, -norm, norm)
    nxt = jnp.where(norm > 0, hv / jnp.maximum(norm, tiny), v)
    change = jnp.abs(new - lam) / jnp.maximum(jnp.abs(new), tiny)
    done = (i + 1 >= num_iters) | (change <= tol)
    switch = done & (phase == 0) & (new < 0)
    phase = jnp.where(switch, 1, jnp.where(done, 2, phase))
    return (
      phase,
      jnp.where(switch, 0, i + 1),
      jnp.where(switch, v0, nxt),
      jnp.where(switch, jnp.inf, new),
      jnp.where(switch, new, shift),
    )

  zero = jnp.zeros((), jnp.int32)
  init = (zero, zero, v0, jnp.asarray(jnp.inf, dtype), jnp.zeros((), dtype))
  _, _, v, lam, shift = jax.lax.while_loop(lambda c: c[0] < 2, body, init)
  return lam + shift, v


def lanczos(matvec: Callable[[Array], Array], x0: Array, num_iters: int) -> Array:
  """Ritz values of a symmetric operator by Lanczos with full reorthogonalisation.

  Runs ``m = min(num_iters, n)`` steps from ``x0`` and returns the
  eigenvalues of the ``m x m`` tridiagonal matrix; the largest is the
  estimate of the dominant eigenvalue (and with ``m = n`` the Ritz values
  are the whole spectrum, up to rounding). Each new vector is
  orthogonalised against all previous ones (twice). When the Krylov space
  becomes invariant (``beta ~ 0``: breakdown) the iteration continues from a
  fixed pseudo-random vector orthogonal to it, with a zero coupling, so
  every Ritz value stays an eigenvalue estimate and none is NaN. Jittable.

  Args:
    matvec: ``v -> H @ v`` for a symmetric ``H``.
    x0: the start vector, shape ``(n,)``.
    num_iters: the number of Lanczos steps (capped at ``n``).

  Returns:
    ``(m,)`` Ritz values in ascending order.
  """
  n = x0.shape[0]
  m = min(int(num_iters), n)
  dtype = x0.dtype
  eps = jnp.finfo(dtype).eps

  def orthogonalise(basis, w):
    for _ in range(2):  # "twice is enough"
      w = w - basis.T @ (basis @ w)
    return w

  def unit_or_restart(basis, w, norm, scale, i):
    fresh = jax.random.normal(jax.random.fold_in(jax.random.key(0), i), (n,), dtype)
    fresh = orthogonalise(basis, fresh)
    fresh = fresh / jnp.maximum(jnp.linalg.norm(fresh), jnp.finfo(dtype).tiny)
    broke = norm <= 100 * eps * scale
    return jnp.where(broke, fresh, w / jnp.where(broke, 1.0, norm)), jnp.where(broke, 0.0, norm)

  basis = jnp.zeros((m + 1, n), dtype)
  x_norm = jnp.linalg.norm(x0)
  v0, _ = unit_or_restart(basis, x0, x_norm, x_norm, 0)
  basis = basis.at[0].set(v0)

  def body(i, carry):
    basis, diag, off, scale = carry
    v = basis[i]
    w = matvec(v)
    a = jnp.vdot(v, w)
    prev = jnp.where(i > 0, off[jnp.maximum(i - 1, 0)], 0.0)
    w = w - a * v - prev * basis[jnp.maximum(i - 1, 0)]
    w = orthogonalise(basis, w)
    b = jnp.linalg.norm(w)
    scale = jnp.maximum(scale, jnp.maximum(jnp.abs(a), b))
    nxt, b = unit_or_restart(basis, w, b, scale, i + 1)
    return basis.at[i + 1].set(nxt), diag.at[i].set(a), off.at[i].set(b), scale

  zeros = jnp.zeros((m,), dtype)
  tiny = jnp.asarray(jnp.finfo(dtype).tiny, dtype)
  _, diag, off, _ = jax.lax.fori_loop(0, m, body, (basis, zeros, zeros, tiny))
  tri = jnp.diag(diag) + jnp.diag(off[:-1], 1) + jnp.diag(off[:-1], -1)
  return jnp.linalg.eigvalsh(tri)


def _stacked(batches: PyTree) -> PyTree:
  """``batches`` with a leading batch axis (a single batch becomes a stack of one)."""
  if jnp.ndim(batches["image"]) == 4:
    return jax.tree.map(lambda x: jnp.asarray(x)[None], batches)
  return batches


def alpha_objective(
  setup: Any, state: Any, batches: PyTree, rng: Array | None = None
) -> tuple[Callable[[Array], Array], Array, Callable[[Array], PyTree]]:
  """The validation loss as a function of flat alpha: ``(fn, flat_alpha, unravel)``.

  ``fn(flat_alpha)`` is the mean of the training-mode loss
  (:meth:`nasjax.core.bilevel.SearchSetup.loss`, batch statistics, new statistics
  discarded) over the batches, at ``state``'s weights, BN statistics, betas,
  projection and epoch, plus ``0.5 * wd * ||alpha||^2`` with ``wd =
  config.optimizer.alpha.weight_decay``. A batch's optional ``weight`` field
  (0 for filler examples) weights its examples' losses.

  Args:
    setup: the search's :class:`nasjax.core.bilevel.SearchSetup`.
    state: a :class:`nasjax.core.state.SearchState`.
    batches: one batch ``{'image': (B, H, W, C), 'label': (B,)}`` or ``k``
      stacked along a leading axis (``(k, B, ...)``).
    rng: the key for the relaxation's sample and the supernet's noise
      (folded with the batch index); default: the key of the alpha update at
      ``state.step``. The same key gives the same function.

  Returns:
    ``fn``, alpha flattened (``jax.flatten_util.ravel_pytree`` of
    ``state.alphas``), and the function that unflattens it.
  """
  flat, unravel = ravel_pytree(state.alphas)
  stacked = _stacked(batches)
  if rng is None:
    rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    rng = jax.random.fold_in(rng, 0)
  epoch = setup.epoch(state.step)
  wd = float(setup.config.optimizer.alpha.weight_decay)

  def per_batch(alphas, index, batch):
    loss, (logits, _) = setup.loss(
      state.params,
      alphas,
      {"image": batch["image"], "label": batch["label"]},
      ForwardContext(
        state.batch_stats,
        rng=jax.random.fold_in(rng, index),
        epoch=epoch,
        projection=state.projection,
      ),
      state.betas,
    )
    if "weight" not in batch:
      count = jnp.asarray(batch["label"].shape[0], loss.dtype)
      return loss * count, count
    weight = batch["weight"].astype(loss.dtype)
    per_example = setup.task.per_example_loss(logits, batch["label"])
    return jnp.sum(weight * per_example.astype(loss.dtype)), jnp.sum(weight)

  def fn(x: Array) -> Array:
    alphas = unravel(x)
    k = jax.tree.leaves(stacked)[0].shape[0]
    total, count = jax.lax.map(
      lambda item: per_batch(alphas, item[0], item[1]), (jnp.arange(k), stacked)
    )
    return jnp.sum(total) / jnp.sum(count) + 0.5 * wd * jnp.sum(x * x)

  return fn, flat, unravel


def make_hessian_fn(
  setup: Any, method: str = "full", num_iters: int = 20, tol: float = 1e-7
) -> Callable[[Any, PyTree], dict[str, Array]]:
  """A jitted ``(state, batches) -> {'max_eig', 'eigenvalues'}`` measurement.

  Build it once per search and call it every measuring epoch (it compiles
  once per batch shape).

  Args:
    setup: the search's :class:`nasjax.core.bilevel.SearchSetup`.
    method: ``'full'`` (the Hessian by :func:`hessian_by_rows`, symmetrised,
      ``eigvalsh``: the whole spectrum), ``'lanczos'`` (``num_iters`` Hessian-vector products; the
      Ritz values) or ``'power'`` (at most ``num_iters`` products per run;
      the largest algebraic eigenvalue only).
    num_iters: iterations for ``'lanczos'`` and ``'power'``.
    tol: the relative change at which ``'power'`` stops early.

  Returns:
    A function of a :class:`nasjax.core.state.SearchState` and the batches (as
    :func:`alpha_objective`) returning ``max_eig`` (a scalar) and
    ``eigenvalues``: all ``n`` in ascending order (``'full'``), the
    ``min(num_iters, n)`` ascending Ritz values (``'lanczos'``), or shape
    ``(1,)`` (``'power'``).

  Raises:
    ConfigError: for an unknown method or ``num_iters < 1``.
  """
  if method not in METHODS:
    raise ConfigError(
      f"config.analysis.hessian_method must be one of {METHODS}, got {method!r}; pick one of them."
    )
  if not (isinstance(num_iters, int | np.integer) and num_iters >= 1):
    raise ConfigError(
      f"config.analysis.hessian_iters must be an integer >= 1, got {num_iters!r}; raise it."
    )
  num_iters = int(num_iters)

  def measure(state, batches):
    fn, x, _ = alpha_objective(setup, state, batches)
    start = jax.random.normal(jax.random.key(0), x.shape, x.dtype)
    if method == "full":
      eigenvalues = jnp.linalg.eigvalsh(hessian_by_rows(fn, x))
    elif method == "lanczos":
      eigenvalues = lanczos(lambda v: hvp(fn, x, v), start, num_iters)
    else:
      eigenvalues = power_iteration(lambda v: hvp(fn, x, v), start, num_iters, tol)[0][None]
    return {"max_eig": jnp.max(eigenvalues), "eigenvalues": eigenvalues}

  return jax.jit(measure)


def alpha_hessian(
  setup: Any, state: Any, batches: PyTree, method: str = "full", num_iters: int = 20
) -> dict[str, Any]:
  """One measurement on the host: ``{'max_eig': float, 'eigenvalues': np.ndarray}``.

  Compiles anew on every call; a search measuring every epoch should keep
  the function of :func:`make_hessian_fn` instead.

  Args:
    setup: the search's :class:`nasjax.core.bilevel.SearchSetup`.
    state: a :class:`nasjax.core.state.SearchState`.
    batches: one validation batch or ``k`` stacked (see :func:`alpha_objective`).
    method: ``'full'``, ``'lanczos'`` or ``'power'`` (see :func:`make_hessian_fn`).
    num_iters: iterations for ``'lanczos'`` and ``'power'``.
  """
  out = jax.device_get(make_hessian_fn(setup, method, num_iters)(state, batches))
  return {"max_eig": float(out["max_eig"]), "eigenvalues": np.asarray(out["eigenvalues"])}


def should_stop_early(eigenvalues: Sequence[float], window: int = 5, factor: float = 1.3) -> bool:
  """DARTS-ES: whether the dominant eigenvalue has grown enough to stop the search.

  RobustDARTS (Zela et al., "Understanding and Robustifying Differentiable
  Architecture Search", ICLR 2020, Sec. 4.3) stops when the average of the
  dominant eigenvalue over the last ``k = 5`` epochs exceeds that over the
  ``k`` epochs before by more than ``1 / 0.75 ~ 1.3``, and returns the
  architecture of ``k`` epochs before the stop.

  Args:
    eigenvalues: the dominant eigenvalue measured at each measuring epoch, oldest first.
    window: ``k``, the number of measurements in each average.
    factor: the growth ratio above which to stop.

  Returns:
    True when there are at least ``2 * window`` values and the mean of the
    last ``window`` is greater than ``factor`` times the mean of the
    ``window`` before them.

  Raises:
    ConfigError: for ``window < 1``.
  """
  if window < 1:
    raise ConfigError(f"config.analysis.early_stop.window must be >= 1, got {window!r}; raise it.")
  values = np.asarray(eigenvalues, np.float64)
  if values.shape[0] < 2 * window:
    return False
  recent = values[-window:].mean()
  before = values[-2 * window : -window].mean()
  return bool(recent > factor * before)
