"""The DARTS space: its :class:`~nasjax.spaces.base.SearchSpace` record and functions of its config.

``config.space`` of the DARTS space has the fields ``name='darts'``,
``channels`` (16), ``layers`` (8), ``steps`` (4), ``multiplier`` (4),
``stem_multiplier`` (3), ``num_classes``, ``op_set`` (``'darts'``, ``'s1'``
.. ``'s4'``; see :mod:`nasjax.spaces.darts.supernet`), ``ops`` (an explicit op list
used on every edge; overrides ``op_set`` when non-empty),
``track_running_stats``, ``partial_channels`` (K, 1 = off) and
``edge_normalization``.

The candidate ops can differ per edge (RobustDARTS S1), so the ops of the
alpha columns are given per cell type and edge by :func:`edge_op_names`;
:func:`op_names` is the common tuple when every edge has the same ops and
generic column labels otherwise.

Example:
  >>> import ml_collections
  >>> from nasjax.spaces.darts import space as darts_config
  >>> cfg = ml_collections.ConfigDict(dict(name='darts', op_set='s1', steps=4, ops=()))
  >>> darts_config.edge_op_names(cfg)['reduce'][1]
  ('max_pool_3x3', 'dil_conv_3x3')
  >>> darts_config.op_names(cfg)
  ('candidate_0', 'candidate_1')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from nasjax.checks import boolean, check, integer, known_fields, one_of
from nasjax.spaces.base import EdgeNames, SearchSpace
from nasjax.spaces.darts import network
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.darts.genotype import DARTS_GENOTYPE_OPS, DartsGenotype
from nasjax.spaces.genotype import GenotypeError

SpaceConfig = Any  # an ml_collections.ConfigDict: config.space

#: Defaults of the optional fields (a config without them gets these).
DEFAULTS: dict[str, Any] = dict(
  channels=16,
  layers=8,
  steps=4,
  multiplier=4,
  stem_multiplier=3,
  num_classes=10,
  op_set="darts",
  ops=(),
  track_running_stats=False,
  partial_channels=1,
  edge_normalization=False,
)

CELL_KINDS = ("normal", "reduce")


def _get(cfg: SpaceConfig, field: str) -> Any:
  return cfg.get(field, DEFAULTS[field])


def edge_op_names(cfg: SpaceConfig) -> dict[str, darts.EdgeOps]:
  """The candidate ops of every edge: ``{'normal': ..., 'reduce': ...}``, one tuple per edge."""
  num_edges = len(darts.cell_edges(_get(cfg, "steps")))
  explicit = tuple(_get(cfg, "ops") or ())
  if explicit:
    return {kind: (explicit,) * num_edges for kind in CELL_KINDS}
  op_set = _get(cfg, "op_set")
  if op_set == "s1":
    return {"normal": darts.S1_NORMAL, "reduce": darts.S1_REDUCE}
  return {kind: (darts.UNIFORM_OP_SETS[op_set],) * num_edges for kind in CELL_KINDS}


def cell_edge_names(steps: int, title: str, node: str = "node") -> EdgeNames:
  """The edges of a DARTS cell as ``node i ← c_{k-2}`` / ``node i ← node j``, node by input.

  Inputs 0 and 1 are the cell inputs ``c_{k-2}`` and ``c_{k-1}``, input
  ``j >= 2`` is node ``j - 2``; ``node`` names the intermediate nodes
  (Auto-DeepLab's cells call them blocks).

  Example:
    >>> cell_edge_names(2, 'normal cell').rows[2:]
    ('node 1 ← c_{k-2}', 'node 1 ← c_{k-1}', 'node 1 ← node 0')
  """
  states = ("c_{k-2}", "c_{k-1}") + tuple(f"{node} {s}" for s in range(steps))
  edges = darts.cell_edges(steps)
  return EdgeNames(title, tuple(f"{node} {i} ← {states[j]}" for i, j in edges), edges)


#: The figure title of each cell's alpha tensor.
CELL_TITLES = {"normal": "normal cell", "reduce": "reduction cell"}


def edge_names(cfg: SpaceConfig) -> dict[str, EdgeNames]:
  """``{'normal': ..., 'reduce': ...}``: every edge as node by input (:func:`cell_edge_names`)."""
  return {kind: cell_edge_names(_get(cfg, "steps"), CELL_TITLES[kind]) for kind in CELL_KINDS}


def op_names(cfg: SpaceConfig) -> tuple[str, ...]:
  """The ops of the alpha columns when all edges share them, else ``candidate_k`` labels."""
  per_edge = edge_op_names(cfg)
  rows = {row for kind in CELL_KINDS for row in per_edge[kind]}
  if len(rows) == 1:
    return rows.pop()
  return tuple(f"candidate_{k}" for k in range(len(per_edge["normal"][0])))


def alpha_shapes(cfg: SpaceConfig) -> dict[str, tuple[int, ...]]:
  """``{'normal': (num_edges, num_ops), 'reduce': (num_edges, num_ops)}``."""
  per_edge = edge_op_names(cfg)
  return {kind: (len(per_edge[kind]), len(per_edge[kind][0])) for kind in CELL_KINDS}


def beta_shapes(cfg: SpaceConfig) -> dict[str, tuple[int, ...]]:
  """``{'normal': (num_edges,), 'reduce': (num_edges,)}`` with edge normalisation, else ``{}``."""
  if not _get(cfg, "edge_normalization"):
    return {}
  num_edges = len(darts.cell_edges(_get(cfg, "steps")))
  return {kind: (num_edges,) for kind in CELL_KINDS}


def build_supernet(cfg: SpaceConfig) -> darts.DartsSupernet:
  """The :class:`~nasjax.spaces.darts.supernet.DartsSupernet` of a (validated) ``config.space``."""
  per_edge = edge_op_names(cfg)
  return darts.DartsSupernet(
    channels=_get(cfg, "channels"),
    layers=_get(cfg, "layers"),
    steps=_get(cfg, "steps"),
    multiplier=_get(cfg, "multiplier"),
    stem_multiplier=_get(cfg, "stem_multiplier"),
    num_classes=_get(cfg, "num_classes"),
    normal_ops=per_edge["normal"],
    reduce_ops=per_edge["reduce"],
    partial_channels=_get(cfg, "partial_channels"),
    track_running_stats=_get(cfg, "track_running_stats"),
  )


def validate(cfg: SpaceConfig) -> None:
  """Raises ConfigError, naming the field, for an invalid DARTS ``config.space``."""
  known_fields(cfg, {"name", *DEFAULTS}, "config.space", " for space 'darts'")
  for field in ("channels", "layers", "steps", "multiplier", "stem_multiplier", "num_classes"):
    integer(_get(cfg, field), f"config.space.{field}", low=1)
  check(
    _get(cfg, "multiplier") <= _get(cfg, "steps"),
    f"config.space.multiplier ({_get(cfg, 'multiplier')}) cannot exceed config.space.steps "
    f"({_get(cfg, 'steps')}): a cell concatenates its last `multiplier` nodes",
  )
  for field in ("track_running_stats", "edge_normalization"):
    boolean(_get(cfg, field), f"config.space.{field}")
  k, c = _get(cfg, "partial_channels"), _get(cfg, "channels")
  integer(k, "config.space.partial_channels", low=1)
  check(
    not c % k,
    f"config.space.channels ({c}) must be divisible by config.space.partial_channels ({k})",
  )
  op_set = _get(cfg, "op_set")
  one_of(op_set, darts.OP_SETS, "config.space.op_set")
  ops = _get(cfg, "ops") or ()
  check(
    not isinstance(ops, str),
    f"config.space.ops must be a list of op names, got the string {ops!r}",
  )
  ops = tuple(ops)
  bad = [op for op in ops if op not in DARTS_GENOTYPE_OPS]
  check(
    not bad,
    f"unknown op(s) {bad} in config.space.ops; DARTS-space ops are {list(DARTS_GENOTYPE_OPS)}",
  )
  check(
    not ops or (len(set(ops)) == len(ops) and ops != ("none",)),
    f"config.space.ops must list distinct ops with at least one besides 'none', got {list(ops)}",
  )
  check(
    ops or op_set != "s1" or _get(cfg, "steps") == 4,
    f"config.space.op_set 's1' defines 14 edges (steps=4), but config.space.steps is "
    f"{_get(cfg, 'steps')}",
  )


def _node_edge_weights(betas: np.ndarray, steps: int) -> np.ndarray:
  out, start = [], 0
  for n in darts.node_fan_in(steps):
    z = np.exp(betas[start : start + n] - betas[start : start + n].max())
    out.append(z / z.sum())
    start += n
  return np.concatenate(out)


def derive_cell(
  probs: np.ndarray,
  edge_ops: darts.EdgeOps,
  steps: int = 4,
  betas: np.ndarray | None = None,
) -> tuple[tuple[str, int], ...]:
  """One cell's ``(op, input)`` pairs by DARTS' rule (with PC-DARTS' edge weights).

  Each edge's op probabilities are scaled by its normalised edge weight when
  ``betas`` is given (softmax of the betas over each node's incoming
  edges). Per node, the incoming edges are ranked by their largest
  non-``none`` weight (ties: the lower input first), the top two are kept,
  and each gets its non-``none`` argmax op; the pairs are listed best edge
  first, as DARTS does.

  Args:
    probs: ``(num_edges, num_ops)`` op probabilities of one cell type.
    edge_ops: the ops of each edge's columns.
    steps: intermediate nodes.
    betas: ``(num_edges,)`` raw edge logits, or None.
  """
  weights = np.asarray(probs, np.float64).copy()
  edges = darts.cell_edges(steps)
  if weights.shape != (len(edges), len(edge_ops[0])):
    raise ValueError(f"probabilities must have shape {(len(edges), len(edge_ops[0]))}")
  if betas is not None:
    weights *= _node_edge_weights(np.asarray(betas, np.float64), steps)[:, None]
  for e, names in enumerate(edge_ops):
    weights[e, [o for o, name in enumerate(names) if name == "none"]] = -np.inf
  pairs, start = [], 0
  for n in darts.node_fan_in(steps):
    block = weights[start : start + n]
    ranked = sorted(range(n), key=lambda j: -block[j].max())[:2]
    for j in ranked:
      pairs.append((edge_ops[start + j][int(np.argmax(block[j]))], j))
    start += n
  return tuple(pairs)


def derive_genotype(
  probs: Mapping[str, Any], cfg: SpaceConfig, betas: Mapping[str, Any] | None = None
) -> DartsGenotype:
  """The DARTS genotype of op probabilities (and, with edge normalisation, betas).

  Args:
    probs: ``{'normal': (14, num_ops), 'reduce': (14, num_ops)}`` op
      probabilities from the relaxation.
    cfg: ``config.space``.
    betas: raw edge logits ``{'normal': (14,), 'reduce': (14,)}``; None or
      empty without edge normalisation.

  The concat lists the last ``multiplier`` nodes (``range(2, 6)`` in DARTS).
  """
  steps, multiplier = _get(cfg, "steps"), _get(cfg, "multiplier")
  per_edge = edge_op_names(cfg)
  host = jax.device_get(dict(probs))
  host_betas = jax.device_get(dict(betas)) if betas else {}
  cells = {
    kind: derive_cell(np.asarray(host[kind]), per_edge[kind], steps, host_betas.get(kind))
    for kind in CELL_KINDS
  }
  concat = tuple(range(2 + steps - multiplier, steps + 2))
  return DartsGenotype(cells["normal"], concat, cells["reduce"], concat)


def genotype_weights(genotype: DartsGenotype, cfg: SpaceConfig) -> dict[str, np.ndarray]:
  """The one-hot mixing weights of a genotype: ``{'normal': (E, O), 'reduce': (E, O)}`` float32.

  For each node's two ``(op, input j)`` pairs, the row of the edge from
  state ``j`` to that node gets a 1 in the column of ``op`` (per-edge op
  lists as :func:`edge_op_names`); the rows of the edges the genotype drops
  are zero. The supernet applied with these weights (and no edge logits) is
  the genotype's network with the supernet's (inherited) weights.
  :func:`derive_genotype` maps them back to the genotype, with each node's
  pairs listed lower input first (one-hot rows tie).

  Raises:
    GenotypeError: if the genotype does not fit ``cfg`` (number of nodes,
      concat, an op that is not a candidate of its edge) or a node takes one
      input twice (one mixing row cannot hold two ops of one edge).
  """
  steps, multiplier = _get(cfg, "steps"), _get(cfg, "multiplier")
  if genotype.steps != steps:
    raise GenotypeError(
      f"the genotype has {genotype.steps} nodes per cell but config.space.steps is {steps}"
    )
  concat = tuple(range(2 + steps - multiplier, steps + 2))
  per_edge = edge_op_names(cfg)
  edges = darts.cell_edges(steps)
  out = {}
  for kind in CELL_KINDS:
    if tuple(getattr(genotype, f"{kind}_concat")) != concat:
      raise GenotypeError(
        f"the genotype's {kind}_concat must be {list(concat)} to match the supernet "
        f"(config.space.multiplier={multiplier})"
      )
    weights = np.zeros((len(edges), len(per_edge[kind][0])), np.float32)
    pairs = getattr(genotype, kind)
    for node in range(steps):
      inputs = [j for _, j in pairs[2 * node : 2 * node + 2]]
      if len(set(inputs)) != len(inputs):
        raise GenotypeError(
          f"node {node} of the {kind} cell takes input {inputs[0]} twice; a supernet edge "
          f"mixes one op per row, so the genotype cannot be expressed as mixing weights"
        )
      for op, j in pairs[2 * node : 2 * node + 2]:
        e = edges.index((node, j))
        if op not in per_edge[kind][e]:
          raise GenotypeError(
            f"op {op!r} is not a candidate on edge {e} (node {node} <- {j}) of the {kind} cell; "
            f"its candidates are {list(per_edge[kind][e])}"
          )
        weights[e, per_edge[kind][e].index(op)] = 1.0
    out[kind] = weights
  return out


DARTS = SearchSpace(
  name="darts",
  validate=validate,
  build_supernet=build_supernet,
  alpha_shapes=alpha_shapes,
  op_names=op_names,
  derive_genotype=derive_genotype,
  genotype=DartsGenotype,
  # The evaluation network at the search's size, without auxiliary head; it
  # returns (logits, None).
  build_network=lambda genotype, cfg: network.NetworkCIFAR(
    genotype,
    channels=cfg.channels,
    layers=cfg.layers,
    num_classes=cfg.num_classes,
    auxiliary=False,
    stem_multiplier=cfg.stem_multiplier,
  ),
  genotype_weights=genotype_weights,
  beta_shapes=beta_shapes,
  edge_op_names=edge_op_names,
  edge_names=edge_names,
)
