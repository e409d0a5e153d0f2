"""Relaxations: how architecture logits alpha become op mixing weights.

A relaxation is a pure function of alpha (and an rng key, for the stochastic
ones). It has two faces:

* ``weights(alphas, rng, train)``: the mixing weights fed to a supernet in a
  forward pass (possibly sampled);
* ``probs(alphas)``: the deterministic op probabilities used for reporting,
  regularisers acting on probabilities, and genotype derivation.

Both map a pytree of ``(..., num_ops)`` logits to a pytree of the same shape.

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.relax import Softmax
  >>> Softmax(temperature=1.0).probs({'cell': jnp.zeros((6, 5))})['cell'][0]
  Array([0.2, 0.2, 0.2, 0.2, 0.2], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax

from nasjax.errors import ConfigError

PyTree = Any


class Relaxation(Protocol):
  """The interface every relaxation implements."""

  def weights(self, alphas: PyTree, rng: jax.Array | None, train: bool) -> PyTree:
    """Mixing weights for one forward pass."""

  def probs(self, alphas: PyTree) -> PyTree:
    """Deterministic op probabilities."""


@dataclasses.dataclass(frozen=True)
class Softmax:
  """DARTS' relaxation: ``softmax(alpha / temperature)`` over the ops of an edge.

  Attributes:
    temperature: positive; 1 is DARTS. Lower values sharpen the mixture.
  """

  temperature: float = 1.0

  def probs(self, alphas: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.nn.softmax(a / self.temperature, axis=-1), alphas)

  def weights(self, alphas: PyTree, rng: jax.Array | None = None, train: bool = True) -> PyTree:
    del rng, train  # deterministic
    return self.probs(alphas)


RELAXATIONS: dict[str, type] = {"softmax": Softmax}


def make_relaxation(config: Any) -> Relaxation:
  """Builds the relaxation named by ``config.name`` from its fields.

  Args:
    config: a ConfigDict (or mapping) with ``name`` and the relaxation's
      fields, e.g. ``{'name': 'softmax', 'temperature': 1.0}``.

  Raises:
    ConfigError: for an unknown name or an invalid field value.
  """
  fields = dict(config)
  name = fields.pop("name")
  if name not in RELAXATIONS:
    raise ConfigError(
      f"unknown relaxation {name!r} (config.relaxation.name); choose one of {sorted(RELAXATIONS)}"
    )
  cls = RELAXATIONS[name]
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ConfigError(
      f"relaxation {name!r} has no field(s) {unknown}; its fields are {sorted(known)}"
    )
  relaxation = cls(**fields)
  if name == "softmax" and not relaxation.temperature > 0:
    raise ConfigError(
      f"config.relaxation.temperature must be positive, got {relaxation.temperature}"
    )
  return relaxation
