"""The optimisers and learning-rate schedules of search and retraining.

Weights use SGD with momentum (Nesterov optional), coupled weight decay and
global-norm gradient clipping (over the weight gradients, or, as PyTorch's
``clip_grad_norm_`` over a network whose parameters include alpha, over a
norm that also counts alpha's gradient: :func:`clip_by_total_norm`), with a
learning rate stepped once per epoch
(PyTorch's ``CosineAnnealingLR`` as the DARTS code bases use it); or, with
``name='adam'`` (super-resolution searches), Adam with the same clipping,
coupled decay and schedule. Alpha uses
Adam with a coupled L2 term added to the gradient before the moments:
``chain(add_decayed_weights, adam)``, not ``adamw`` (``docs/methods.md``,
Defaults on CIFAR).

Example:
  >>> from nasjax.core.optimizers import epoch_cosine_schedule
  >>> schedule = epoch_cosine_schedule(0.025, 0.001, epochs=50, steps_per_epoch=10)
  >>> float(schedule(0)), float(schedule(9)), round(float(schedule(500)), 6)
  (0.025, 0.025, 0.001)
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

Array = jax.Array
PyTree = Any


def epoch_cosine_schedule(
  lr: float, lr_min: float, epochs: int, steps_per_epoch: int
) -> optax.Schedule:
  """Cosine annealing from ``lr`` to ``lr_min`` over ``epochs``, constant within an epoch."""

  def schedule(step: Array) -> Array:
    epoch = jnp.minimum(step // steps_per_epoch, epochs)
    cos = 0.5 * (1.0 + jnp.cos(math.pi * epoch / epochs))
    return jnp.asarray(lr_min + (lr - lr_min) * cos, jnp.float32)

  return schedule


#: The weight optimisers ``config.optimizer.weights.name`` selects.
WEIGHT_OPTIMIZERS = ("sgd", "adam")


#: The extra argument of the weight optimiser's ``update`` that :func:`clip_by_total_norm` reads.
CLIP_EXTRA_ARG = "clip_extra_sq_norm"


def clip_by_total_norm(max_norm: float) -> optax.GradientTransformationExtraArgs:
  """PyTorch's ``clip_grad_norm_`` over the updates plus tensors outside them.

  The norm is ``sqrt(||updates||^2 + clip_extra_sq_norm)``, the second term
  (an extra argument of ``update``, default 0) being the squared norm of
  gradients that share the clip but not this optimiser (alpha's, where the
  network's parameters include it). The updates are scaled by
  ``min(max_norm / (norm + 1e-6), 1)``, PyTorch's coefficient. Its state is
  the empty state of ``optax.clip_by_global_norm``, so the optimiser state
  keeps its layout whichever clip is used.
  """

  def init(params: PyTree) -> optax.EmptyState:
    del params
    return optax.EmptyState()

  def update(
    updates: PyTree, state: optax.EmptyState, params: PyTree = None, **extra: Any
  ) -> tuple[PyTree, optax.EmptyState]:
    del params
    sq = sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in jax.tree.leaves(updates))
    extra_sq = extra.get(CLIP_EXTRA_ARG)
    if extra_sq is not None:
      sq = sq + jnp.asarray(extra_sq, jnp.float32)
    coef = jnp.minimum(max_norm / (jnp.sqrt(sq) + 1e-6), 1.0)
    return jax.tree.map(lambda g: (g * coef).astype(g.dtype), updates), state

  return optax.GradientTransformationExtraArgs(init, update)


def clip_norm(grads: PyTree, extra_sq_norm: Array | None = None) -> Array:
  """The norm :func:`clip_by_total_norm` compares with its threshold."""
  sq = sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in jax.tree.leaves(grads))
  return jnp.sqrt(sq if extra_sq_norm is None else sq + extra_sq_norm)


def weight_optimizer(
  cfg: ml_collections.ConfigDict, lr_schedule: optax.Schedule
) -> optax.GradientTransformationExtraArgs:
  """SGD(momentum, Nesterov optional) or Adam, with coupled decay after global-norm clipping.

  ``cfg.name`` (default ``sgd``) picks the optimiser; Adam reads ``b1``,
  ``b2`` and ``eps`` (defaults 0.9, 0.999, 1e-8). ``cfg.grad_clip_scope``
  (default ``weights``) picks the clip: ``optax.clip_by_global_norm`` of the
  weight gradients, or with ``weights_and_alpha`` :func:`clip_by_total_norm`,
  whose ``update`` takes alpha's squared gradient norm as the extra argument
  :data:`CLIP_EXTRA_ARG`.
  """
  parts = []
  if cfg.grad_clip > 0 and cfg.get("grad_clip_scope", "weights") == "weights_and_alpha":
    parts.append(clip_by_total_norm(cfg.grad_clip))
  elif cfg.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(cfg.grad_clip))
  parts.append(optax.add_decayed_weights(cfg.weight_decay))
  if cfg.get("name", "sgd") == "adam":
    parts.append(
      optax.scale_by_adam(b1=cfg.get("b1", 0.9), b2=cfg.get("b2", 0.999), eps=cfg.get("eps", 1e-8))
    )
  else:
    parts.append(optax.trace(decay=cfg.momentum, nesterov=cfg.nesterov))
  parts.append(optax.scale_by_learning_rate(lr_schedule))
  return optax.chain(*parts)


def alpha_optimizer(cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with coupled L2 (``add_decayed_weights`` before ``adam``, not ``adamw``).

  The search applies it to alpha and betas together (as PC-DARTS' one Adam
  over all architecture parameters, its L2 included).
  """
  return optax.chain(
    optax.add_decayed_weights(cfg.weight_decay),
    optax.adam(cfg.lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps),
  )


def momentum_buffer(weight_opt_state: optax.OptState) -> PyTree:
  """The SGD momentum buffer inside the weight optimiser's state."""
  return optax.tree_utils.tree_get(weight_opt_state, "trace")
