"""The state a search carries from step to step, and what a forward pass reads with it.

:class:`SearchState` holds the weights, alpha (and the edge-normalisation
betas), both optimisers' states, the BN statistics, the step and its key;
:class:`ForwardContext` is what one training-mode forward pass reads besides
the weights and alpha. Fresh alpha and betas are ``init_std * N(0, 1)``
(:func:`normal_tree`), shifted for a biased start (:func:`biased`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

Array = jax.Array
PyTree = Any


@flax.struct.dataclass
class SearchState:
  """Everything a search carries from one step to the next.

  Attributes:
    step: the number of completed search steps (int32 scalar).
    params: supernet weights ``w``.
    batch_stats: BN running statistics (may be empty).
    alphas: architecture logits, ``{name: (edges, ops)}``.
    betas: raw edge-normalisation logits, ``{name: (edges,)}``; ``{}`` when
      the space config turns edge normalisation off.
    weight_opt_state: the weight optimiser's state (momentum buffer, ...).
    alpha_opt_state: the alpha optimiser's state (Adam moments, ...) over
      :attr:`arch_params`, i.e. alpha and betas together.
    rng: raw ``uint32`` key data; step ``t`` uses ``fold_in(rng, t)``.
    projection: decided and pruned edges (:mod:`nasjax.core.projection`), applied
      to the mixing weights in every forward pass; ``{}`` in an ordinary search.
    alpha_grad: the last alpha update's gradient, ``{'alphas': ..., 'betas':
      ...}`` like :attr:`arch_params` (zeros before the first update), which
      the weight update's gradient clip counts with
      ``grad_clip_scope='weights_and_alpha'``; ``{}`` otherwise.
  """

  step: Array
  params: PyTree
  batch_stats: PyTree
  alphas: PyTree
  betas: PyTree
  weight_opt_state: optax.OptState
  alpha_opt_state: optax.OptState
  rng: Array
  projection: PyTree = dataclasses.field(default_factory=dict)
  alpha_grad: PyTree = dataclasses.field(default_factory=dict)

  @property
  def arch_params(self) -> dict[str, PyTree]:
    """``{'alphas': alphas, 'betas': betas}``: what the alpha optimiser updates."""
    return {"alphas": self.alphas, "betas": self.betas}


@flax.struct.dataclass
class ForwardContext:
  """What a training-mode forward pass reads besides the weights, alpha and the batch.

  None of it is differentiated; :meth:`SearchSetup.loss` takes it as one record.

  Attributes:
    batch_stats: BN running statistics.
    rng: a typed key: ``fold_in(rng, 0)`` draws the relaxation's sample,
      ``fold_in(rng, 1)`` is the supernet's ``'noise'`` stream. None only for
      deterministic relaxations (and a fixed noise key).
    epoch: the (integer) epoch, for the relaxation's temperature schedule.
    projection: decided and pruned edges applied to the mixing weights
      (:func:`nasjax.core.projection.apply`); None or ``{}`` for none.
  """

  batch_stats: PyTree
  rng: Array | None = None
  epoch: Array | int = 0
  projection: PyTree | None = None

  @classmethod
  def of(cls, state: SearchState, rng: Array | None, epoch: Array | int) -> ForwardContext:
    """The context of ``state``'s forward passes with the step's ``rng`` and ``epoch``."""
    return cls(state.batch_stats, rng, epoch, state.projection)


def normal_tree(rng: Array, shapes: dict[str, tuple[int, ...]], std: float) -> dict[str, Array]:
  """``{name: std * N(0, 1)}`` of the given shapes, one key per name (in sorted order)."""
  keys = dict(zip(sorted(shapes), jax.random.split(rng, len(shapes)), strict=True))
  return {name: std * jax.random.normal(keys[name], shape) for name, shape in shapes.items()}


def biased(
  alphas: dict[str, Array], cfg: ml_collections.ConfigDict, ops: dict[str, tuple]
) -> dict[str, Array]:
  """``alphas + init_offset``, plus ``init_bias`` on the columns of op ``init_bias_op``."""
  offset, bias = float(cfg.get("init_offset", 0.0)), float(cfg.get("init_bias", 0.0))
  if not offset and not bias:
    return alphas
  target = cfg.get("init_bias_op", "skip_connect")
  out = {}
  for name, a in alphas.items():
    hit = jnp.asarray([[float(op == target) for op in row] for row in ops[name]], a.dtype)
    out[name] = a + offset + bias * hit
  return out


def edge_kwargs(betas: PyTree | None) -> dict[str, Any]:
  """``{'edge_logits': betas}`` when there are betas, else nothing (no edge normalisation)."""
  return {"edge_logits": betas} if betas is not None and jax.tree.leaves(betas) else {}
