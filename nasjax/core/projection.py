"""Projected mixing weights: edges decided during selection, edges pruned.

Perturbation-based selection (:mod:`nasjax.core.perturbation`) fixes the supernet's
edges one at a time: a decided edge mixes its ops with a fixed one-hot row
instead of the relaxation's weights, and in the DARTS space a pruned edge
contributes nothing. A projection is data, ``{name: {'fixed': (E, O),
'decided': (E,), 'keep': (E,)}}`` per alpha tensor, carried in
:class:`~nasjax.core.state.SearchState` (empty during an ordinary search), so
fine-tuning the supernet between decisions is the ordinary jitted search
step, compiled once.

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.core import projection
  >>> p = projection.empty({'cell': (2, 3)})
  >>> p = projection.decide_op(p, 'cell', 0, 2)
  >>> w = {'cell': jnp.full((2, 3), 1 / 3)}
  >>> projection.apply(w, p)['cell'].round(2).tolist()
  [[0.0, 0.0, 1.0], [0.33, 0.33, 0.33]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Projection = dict[str, dict[str, Any]]


def empty(alpha_shapes: Mapping[str, tuple[int, ...]]) -> Projection:
  """A projection that changes nothing: no edge decided, every edge kept."""
  return {
    name: {
      "fixed": np.zeros(shape, np.float32),
      "decided": np.zeros(shape[:-1], np.float32),
      "keep": np.ones(shape[:-1], np.float32),
    }
    for name, shape in alpha_shapes.items()
  }


def apply(weights: Mapping[str, jax.Array], projection: Projection | None) -> dict[str, jax.Array]:
  """The mixing weights with decided rows replaced by their one-hot row and pruned rows zeroed.

  No renormalisation. An empty or ``None`` projection returns ``weights`` unchanged.
  """
  if not projection:
    return dict(weights)
  out = {}
  for name, w in weights.items():
    p = projection[name]
    decided = jnp.asarray(p["decided"], w.dtype)[..., None]
    mixed = decided * jnp.asarray(p["fixed"], w.dtype) + (1 - decided) * w
    out[name] = mixed * jnp.asarray(p["keep"], w.dtype)[..., None]
  return out


def _copy(projection: Projection) -> Projection:
  return {n: {k: np.array(v) for k, v in p.items()} for n, p in jax.device_get(projection).items()}


def decide_op(projection: Projection, name: str, edge: int, op: int) -> Projection:
  """A copy of ``projection`` with edge ``edge`` of ``name`` fixed to op ``op``."""
  out = _copy(projection)
  out[name]["fixed"][edge] = 0.0
  out[name]["fixed"][edge, op] = 1.0
  out[name]["decided"][edge] = 1.0
  return out


def prune_edges(projection: Projection, name: str, edges: list[int]) -> Projection:
  """A copy of ``projection`` with ``edges`` of ``name`` removed (their weights zero)."""
  out = _copy(projection)
  out[name]["keep"][list(edges)] = 0.0
  return out


def undecided(projection: Projection, name: str) -> list[int]:
  """The edges of ``name`` whose op is not decided yet."""
  return [int(e) for e in np.flatnonzero(np.asarray(projection[name]["decided"]) < 0.5)]


def choices(projection: Projection) -> dict[str, list[int]]:
  """The decided op of every edge (-1 where undecided), per alpha tensor."""
  out = {}
  for name, p in jax.device_get(projection).items():
    fixed, decided = np.asarray(p["fixed"]), np.asarray(p["decided"])
    out[name] = [int(np.argmax(f)) if d > 0.5 else -1 for f, d in zip(fixed, decided, strict=True)]
  return out
