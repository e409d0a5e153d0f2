"""The NAS-Bench-201 space as a :class:`~nasjax.spaces.base.SearchSpace` record.

``config.space`` of ``nb201``: ``channels`` (C, 16), ``cells_per_stage``
(N, 5), ``num_classes``, ``ops`` (the candidates, a subset of
:data:`~nasjax.spaces.nb201.genotype.NB201_OPS`, kept in the benchmark's
order), ``track_running_stats``, ``scan_cells``, ``partial_channels``,
``edge_normalization`` and ``conv_bias`` (see
:mod:`nasjax.spaces.nb201.supernet`). The space's benchmark is the
NAS-Bench-201 table (:mod:`nasjax.spaces.nb201.benchmark`).
"""

from __future__ import annotations

from nasjax.checks import boolean, check, integer, known_fields
from nasjax.spaces.base import EdgeNames, SearchSpace, SpaceConfig
from nasjax.spaces.nb201 import network, supernet
from nasjax.spaces.nb201.benchmark import load_table
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype


def _validate_nb201(cfg: SpaceConfig) -> None:
  known = {
    "name",
    "channels",
    "cells_per_stage",
    "num_classes",
    "ops",
    "track_running_stats",
    "scan_cells",
    "partial_channels",
    "edge_normalization",
    "conv_bias",
  }
  known_fields(cfg, known, "config.space", " for space 'nb201'")
  for field in ("channels", "cells_per_stage", "num_classes"):
    check(
      isinstance(cfg[field], int) and cfg[field] >= 1,
      f"config.space.{field} must be an integer >= 1, got {cfg[field]!r}",
    )
  ops = tuple(cfg.ops)
  bad = [op for op in ops if op not in NB201_OPS]
  check(
    not bad, f"unknown op(s) {bad} in config.space.ops; NAS-Bench-201 ops are {list(NB201_OPS)}"
  )
  check(
    bool(ops) and len(set(ops)) == len(ops) and ops != ("none",),
    f"config.space.ops must list distinct ops with at least one besides 'none', got {list(ops)}",
  )
  k = cfg.get("partial_channels", 1)
  integer(k, "config.space.partial_channels", low=1)
  check(
    not cfg.channels % k,
    f"config.space.channels ({cfg.channels}) must be divisible by "
    f"config.space.partial_channels ({k})",
  )
  for field in ("edge_normalization", "conv_bias", "track_running_stats"):
    boolean(cfg.get(field, False), f"config.space.{field}")


def _nb201_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  # Keep the benchmark's column order whatever order the config lists them in.
  return tuple(op for op in NB201_OPS if op in tuple(cfg.ops))


def edge_names(cfg: SpaceConfig) -> dict[str, EdgeNames]:
  """The cell's edges as ``node i ← node j`` (node 0 the cell input, node 3 its output).

  Example:
    >>> edge_names(None)['cell'].rows[:2]
    ('node 1 ← node 0', 'node 2 ← node 0')
  """
  del cfg  # one cell layout for every config
  rows = tuple(f"node {i} ← node {j}" for i, j in supernet.EDGES)
  grid = tuple((i - 1, j) for i, j in supernet.EDGES)
  return {"cell": EdgeNames("NAS-Bench-201 cell (node 0: input, node 3: output)", rows, grid)}


NB201 = SearchSpace(
  name="nb201",
  validate=_validate_nb201,
  build_supernet=lambda cfg: supernet.NB201Supernet(
    channels=cfg.channels,
    cells_per_stage=cfg.cells_per_stage,
    num_classes=cfg.num_classes,
    op_names=_nb201_ops(cfg),
    track_running_stats=cfg.track_running_stats,
    scan_cells=cfg.scan_cells,
    partial_channels=cfg.get("partial_channels", 1),
    edge_normalization=cfg.get("edge_normalization", False),
    conv_bias=cfg.get("conv_bias", False),
  ),
  alpha_shapes=lambda cfg: supernet.alpha_shapes(_nb201_ops(cfg)),
  op_names=_nb201_ops,
  derive_genotype=lambda probs, cfg, betas=None: supernet.derive_genotype(probs, _nb201_ops(cfg)),
  genotype=NB201Genotype,
  build_network=lambda genotype, cfg: network.NB201Network(
    genotype,
    channels=cfg.channels,
    cells_per_stage=cfg.cells_per_stage,
    num_classes=cfg.num_classes,
    scan_cells=cfg.scan_cells,
  ),
  genotype_weights=lambda genotype, cfg: supernet.genotype_weights(genotype, _nb201_ops(cfg)),
  beta_shapes=lambda cfg: (
    {"cell": (supernet.NUM_EDGES,)} if cfg.get("edge_normalization", False) else {}
  ),
  benchmark=load_table,
  edge_names=edge_names,
)
