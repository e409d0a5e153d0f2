"""The optimisers and learning-rate schedules of search and retraining.

Weights use SGD with momentum (Nesterov optional), coupled weight decay and
global-norm gradient clipping, with a learning rate stepped once per epoch
(PyTorch's ``CosineAnnealingLR`` as the DARTS code bases use it); or, with
``name='adam'`` (super-resolution searches), Adam with the same clipping,
coupled decay and schedule. Alpha uses
Adam with a coupled L2 term added to the gradient before the moments:
``chain(add_decayed_weights, adam)``, not ``adamw`` (DESIGN.md §3).

Example:
  >>> from nasjax.optimizers import epoch_cosine_schedule
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


def weight_optimizer(
  cfg: ml_collections.ConfigDict, lr_schedule: optax.Schedule
) -> optax.GradientTransformation:
  """SGD(momentum, Nesterov optional) or Adam, with coupled decay after global-norm clipping.

  ``cfg.name`` (default ``sgd``) picks the optimiser; Adam reads ``b1``,
  ``b2`` and ``eps`` (defaults 0.9, 0.999, 1e-8).
  """
  parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip > 0 else []
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
