"""Hypergradients of the bilevel problem: the gradient that updates alpha.

DARTS solves ``min_alpha L_val(w*(alpha), alpha)`` with ``w*`` approximated
by one step of the weight optimiser. With ``g = grad_w L_train(w, alpha)``
and SGD with momentum ``m``, buffer ``b`` and coupled decay ``wd``, that
step is

    w'(alpha) = w - xi * (m * b + g + wd * w)            (heavy ball)
    w'(alpha) = w - xi * ((1 + m) * (g + wd * w) + m^2 b)  (Nesterov)

with ``xi`` the current weight learning rate, the gradient unclipped (as in
DARTS). The three modes:

* :func:`first_order` -- ``grad_alpha L_val(w, alpha)`` (``xi = 0``).
* :func:`second_order_exact` -- ``d/dalpha L_val(w'(alpha), alpha)``,
  differentiating through the unrolled step (``jax.grad`` of ``jax.grad``).
  Exact: no finite difference, no Hessian approximation.
* :func:`second_order_fd` -- DARTS' finite-difference form:
  ``grad_alpha L_val(w') - xi c [grad_alpha L_train(w+) - grad_alpha
  L_train(w-)] / (2 eps)`` with ``v = grad_w' L_val(w', alpha)``,
  ``w+- = w +- eps v``, ``eps = radius / ||v||`` (DARTS: ``radius = 0.01``)
  and ``c`` the coefficient of ``g`` in the step above (1, or ``1 + m`` with
  Nesterov).

The two second-order modes differ only by the finite-difference error of the
Hessian-vector product. For ReLU networks that error is not small at
DARTS' radius: the autodiff second derivative is the almost-everywhere one,
blind to the kinks of the ReLUs, while a difference over a weight
perturbation of norm 0.01 crosses many kinks and picks up their curvature.
On a NAS-Bench-201 supernet the two hypergradients can differ by a factor of
several; they agree to float precision as ``radius`` shrinks, and to a few
percent at 0.01 for a smooth activation.

Every mode has the signature ``(loss_fn, params, alphas, train_batch,
val_batch, inner) -> (grad_alpha, (val_loss, aux))`` where
``loss_fn(params, alphas, batch) -> (loss, aux)``. The first-order form
evaluates ``L_val`` at ``w``, the second-order forms at ``w'``; ``aux`` is
that evaluation's auxiliary output. With ``with_train_aux=True`` a mode also
returns, third, the auxiliary output of its forward on the training batch at
``w`` (the one the unrolled step differentiates; None for first order): the
search takes the BN statistics of the alpha step from it
(:mod:`nasjax.core.bilevel`).

The formulas, defaults and their sources: ``docs/methods.md`` (Hypergradients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax
import jax
import optax

PyTree = Any
LossFn = Callable[[PyTree, PyTree, Any], tuple[jax.Array, Any]]


@flax.struct.dataclass
class InnerStep:
  """The weight-optimiser step that the second-order modes unroll.

  A pytree: ``lr`` and ``momentum_buffer`` are traced, the hyperparameters
  are static.

  Attributes:
    lr: the current weight learning rate ``xi``.
    momentum: SGD momentum ``m``.
    momentum_buffer: the optimiser's momentum buffer ``b`` (a pytree like
      the weights; zeros before the first step).
    weight_decay: coupled weight decay ``wd``.
    nesterov: whether the optimiser uses Nesterov momentum.
  """

  lr: jax.Array
  momentum_buffer: PyTree
  momentum: float = flax.struct.field(pytree_node=False)
  weight_decay: float = flax.struct.field(pytree_node=False)
  nesterov: bool = flax.struct.field(pytree_node=False, default=False)

  @property
  def grad_coefficient(self) -> jax.Array:
    """``xi * c``: how much of the raw gradient the step subtracts."""
    return self.lr * (1.0 + self.momentum if self.nesterov else 1.0)


def unrolled_weights(
  loss_fn: LossFn, params: PyTree, alphas: PyTree, train_batch: Any, inner: InnerStep
) -> PyTree:
  """``w'(alpha)``: one step of SGD with momentum and weight decay from ``params``."""
  return _unrolled(loss_fn, params, alphas, train_batch, inner)[0]


def _unrolled(
  loss_fn: LossFn, params: PyTree, alphas: PyTree, train_batch: Any, inner: InnerStep
) -> tuple[PyTree, Any]:
  """``w'(alpha)`` and the auxiliary output of the training-batch forward at ``params``."""
  grads, train_aux = jax.grad(lambda p: loss_fn(p, alphas, train_batch), has_aux=True)(params)
  m, wd = inner.momentum, inner.weight_decay

  def step(w, g, b):
    d = g + wd * w
    if inner.nesterov:
      return w - inner.lr * ((1.0 + m) * d + m * m * b)
    return w - inner.lr * (m * b + d)

  return jax.tree.map(step, params, grads, inner.momentum_buffer), train_aux


def first_order(
  loss_fn: LossFn,
  params: PyTree,
  alphas: PyTree,
  train_batch: Any,
  val_batch: Any,
  inner: InnerStep,
  with_train_aux: bool = False,
) -> tuple[PyTree, tuple[jax.Array, Any]] | tuple[PyTree, tuple[jax.Array, Any], None]:
  """``grad_alpha L_val(w, alpha)``."""
  del train_batch, inner
  (loss, aux), grad = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(
    params, alphas, val_batch
  )
  return (grad, (loss, aux), None) if with_train_aux else (grad, (loss, aux))


def second_order_exact(
  loss_fn: LossFn,
  params: PyTree,
  alphas: PyTree,
  train_batch: Any,
  val_batch: Any,
  inner: InnerStep,
  with_train_aux: bool = False,
) -> tuple[PyTree, tuple[jax.Array, Any]] | tuple[PyTree, tuple[jax.Array, Any], Any]:
  """The exact gradient of ``L_val(w'(alpha), alpha)`` through the unrolled step."""

  def objective(a):
    w_prime, train_aux = _unrolled(loss_fn, params, a, train_batch, inner)
    loss, aux = loss_fn(w_prime, a, val_batch)
    return loss, (aux, train_aux)

  (loss, (aux, train_aux)), grad = jax.value_and_grad(objective, has_aux=True)(alphas)
  return (grad, (loss, aux), train_aux) if with_train_aux else (grad, (loss, aux))


def second_order_fd(
  loss_fn: LossFn,
  params: PyTree,
  alphas: PyTree,
  train_batch: Any,
  val_batch: Any,
  inner: InnerStep,
  radius: float = 0.01,
  with_train_aux: bool = False,
) -> tuple[PyTree, tuple[jax.Array, Any]] | tuple[PyTree, tuple[jax.Array, Any], Any]:
  """DARTS' finite-difference approximation of the second-order hypergradient.

  ``radius`` is the norm of the weight perturbation, ``eps * ||v||``. The
  training-batch auxiliary output (``with_train_aux``) is that of the
  unrolling forward at ``w``, not of the forwards at ``w +- eps v``.
  """
  w_prime, train_aux = _unrolled(loss_fn, params, alphas, train_batch, inner)
  w_prime = jax.lax.stop_gradient(w_prime)
  (loss, aux), (v, grad_direct) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
    w_prime, alphas, val_batch
  )
  eps = radius / optax.tree.norm(v)

  def train_grad_alpha(sign):
    shifted = jax.tree.map(lambda w, d: w + sign * eps * d, params, v)
    return jax.grad(lambda a: loss_fn(shifted, a, train_batch)[0])(alphas)

  g_plus, g_minus = train_grad_alpha(1.0), train_grad_alpha(-1.0)
  coef = inner.grad_coefficient
  grad = jax.tree.map(
    lambda d, p, n: d - coef * (p - n) / (2.0 * eps), grad_direct, g_plus, g_minus
  )
  return (grad, (loss, aux), train_aux) if with_train_aux else (grad, (loss, aux))


#: The hypergradients by name, the values of ``config.hypergradient``.
HYPERGRADIENTS: dict[str, Callable[..., tuple[PyTree, tuple[jax.Array, Any]]]] = {
  "first_order": first_order,
  "second_order_exact": second_order_exact,
  "second_order_fd": second_order_fd,
}
