"""The super-resolution search spaces as :class:`~nasjax.spaces.SearchSpace` entries.

``imdn`` (:mod:`nasjax.spaces.sr.imdn`) and ``dlsr`` (:mod:`nasjax.spaces.sr.dlsr`):
their ``config.space`` fields, defaults, validation, and the functions the
search core calls. Both have the ``super_resolution`` task (L1 loss, PSNR)
and candidate costs for the FLOPs-constrained alpha loss.

``config.space`` of ``imdn``: ``scale`` (2, 3, 4), ``features`` (64),
``num_blocks`` (6), ``distill`` (16 of the features split off per step),
``ops`` (the candidates, default all 12 of :data:`~nasjax.spaces.sr.ops.SR_OPS`),
``share_alpha`` (one alpha row per position for all blocks), ``track_running_stats``
(False: search BN uses batch statistics) and ``partial_channels`` (K of SAC-DARTS).
The fields of ``dlsr`` are :data:`nasjax.spaces.sr.dlsr_encoding.DEFAULTS`' plus the same
``scale``, ``ops``, ``track_running_stats`` and ``partial_channels``.
"""

from __future__ import annotations

from typing import Any

import ml_collections

from nasjax.checks import boolean, check, integer, known_fields, one_of
from nasjax.spaces.base import EdgeNames, SearchSpace
from nasjax.spaces.sr import dlsr, dlsr_encoding, imdn
from nasjax.spaces.sr.ops import SR_OPS

SpaceConfig = Any

SCALES = (2, 3, 4)

IMDN_DEFAULTS: dict[str, Any] = dict(
  name="imdn",
  scale=2,
  features=64,
  num_blocks=6,
  distill=16,
  ops=SR_OPS,
  share_alpha=True,
  track_running_stats=False,
  partial_channels=1,
)


def default_space_config(name: str, scale: int) -> ml_collections.ConfigDict:
  """The default ``config.space`` of SR space ``name`` at x``scale``."""
  fields = dict(IMDN_DEFAULTS) if name == "imdn" else dlsr_encoding.space_defaults()
  fields["scale"] = scale
  return ml_collections.ConfigDict(fields)


def runlocal_space(name: str) -> dict[str, Any]:
  """Fields that shrink space ``name`` to a CPU-sized supernet (same candidates and layout)."""
  if name == "imdn":
    return dict(features=16, num_blocks=1, distill=4)
  return dlsr_encoding.runlocal_fields()


def _check_common(
  cfg: SpaceConfig, known: set[str], channel_fields: tuple[str, ...], candidates: tuple[str, ...]
) -> None:
  known_fields(cfg, known, "config.space", f" for space {cfg.name!r}")
  one_of(cfg.scale, SCALES, "config.space.scale")
  ops = tuple(cfg.ops)
  bad = [op for op in ops if op not in candidates]
  check(
    not bad,
    f"unknown op(s) {bad} in config.space.ops; the candidates of {cfg.name!r} are "
    f"{list(candidates)}",
  )
  check(
    bool(ops) and len(set(ops)) == len(ops),
    f"config.space.ops must list distinct candidates, got {list(ops)}",
  )
  boolean(cfg.track_running_stats, "config.space.track_running_stats")
  integer(cfg.partial_channels, "config.space.partial_channels", low=1)
  k = cfg.partial_channels
  for field in channel_fields:
    check(
      not cfg[field] % k,
      f"config.space.{field} ({cfg[field]}) must be divisible by "
      f"config.space.partial_channels ({k})",
    )


def _validate_imdn(cfg: SpaceConfig) -> None:
  _check_common(cfg, set(IMDN_DEFAULTS), ("features", "distill"), SR_OPS)
  for field in ("features", "num_blocks", "distill"):
    integer(cfg[field], f"config.space.{field}", low=1)
  boolean(cfg.share_alpha, "config.space.share_alpha")
  check(
    cfg.distill < cfg.features,
    f"config.space.distill ({cfg.distill}) must be smaller than config.space.features "
    f"({cfg.features})",
  )


def _validate_dlsr(cfg: SpaceConfig) -> None:
  _check_common(cfg, set(dlsr_encoding.DEFAULTS), ("features",), dlsr_encoding.KNOWN_OPS)
  integer(cfg.features, "config.space.features", low=2)
  integer(cfg.num_cells, "config.space.num_cells", low=3)
  check(
    not cfg.features % (2 * cfg.partial_channels),
    f"config.space.features ({cfg.features}) must be divisible by 2 * "
    f"config.space.partial_channels ({2 * cfg.partial_channels}): the cell distils half",
  )


def _dlsr_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  return tuple(op for op in dlsr_encoding.KNOWN_OPS if op in tuple(cfg.ops))


def _imdn_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  return tuple(op for op in SR_OPS if op in tuple(cfg.ops))  # the candidates' canonical order


def imdn_edge_names(cfg: SpaceConfig) -> dict[str, EdgeNames]:
  """The searched convolutions of IMDN's blocks: ``cK (shared by all blocks)`` or ``block b cK``.

  Panels are laid out block (row) by convolution (column).

  Example:
    >>> cfg = ml_collections.ConfigDict(dict(share_alpha=False, num_blocks=2))
    >>> imdn_edge_names(cfg)['blocks'].rows[3:5]
    ('block 0 c4', 'block 1 c1')
  """
  convs = [f"c{i + 1}" for i in range(imdn.POSITIONS)]
  if cfg.share_alpha:
    rows = tuple(f"{c} (shared by all blocks)" for c in convs)
    grid = tuple((0, i) for i in range(imdn.POSITIONS))
    blocks = (
      "the network's only block"
      if cfg.num_blocks == 1
      else f"shared by all {cfg.num_blocks} blocks"
    )
    title = f"IMDN block convolutions ({blocks})"
  else:
    cells = [(b, i) for b in range(cfg.num_blocks) for i in range(imdn.POSITIONS)]
    rows = tuple(f"block {b} {convs[i]}" for b, i in cells)
    grid = tuple(cells)
    title = f"IMDN block convolutions (each of the {cfg.num_blocks} blocks has its own)"
  return {imdn.ALPHA: EdgeNames(title, rows, grid, kind="convolution")}


def dlsr_edge_names(cfg: SpaceConfig) -> dict[str, EdgeNames]:
  """DLSR's cell ops (``step p op``) and cell inputs (``cell i, input k``, cell by input).

  Example:
    >>> names = dlsr_edge_names(ml_collections.ConfigDict(dict(num_cells=4)))
    >>> names['cell'].rows, names['network'].rows[:2]
    (('step 1 op', 'step 2 op', 'step 3 op'), ('cell 3, input 1', 'cell 3, input 2'))
  """
  steps = range(1, dlsr_encoding.NUM_POSITIONS + 1)
  cell = EdgeNames(
    f"DLSR cell (shared by all {cfg.num_cells} cells)",
    tuple(f"step {p} op" for p in steps),
    tuple((0, p - 1) for p in steps),
    kind="step",
  )
  slots = [(i, k) for i in range(3, cfg.num_cells + 1) for k in (1, 2)]
  readers = "cell 3 reads" if cfg.num_cells == 3 else f"cells 3–{cfg.num_cells} each read"
  network = EdgeNames(
    f"DLSR network ({readers} two earlier cells)",
    tuple(f"cell {i}, input {k}" for i, k in slots),
    tuple((i - 3, k - 1) for i, k in slots),
    kind="input",
    candidates="cell",
  )
  return {"cell": cell, "network": network}


IMDN = SearchSpace(
  name="imdn",
  validate=_validate_imdn,
  build_supernet=lambda cfg: imdn.IMDNSupernet(
    scale=cfg.scale,
    features=cfg.features,
    num_blocks=cfg.num_blocks,
    distill=cfg.distill,
    op_names=_imdn_ops(cfg),
    share_alpha=cfg.share_alpha,
    track_running_stats=cfg.track_running_stats,
    partial_channels=cfg.partial_channels,
  ),
  alpha_shapes=lambda cfg: imdn.alpha_shapes(cfg.share_alpha, cfg.num_blocks, _imdn_ops(cfg)),
  op_names=_imdn_ops,
  derive_genotype=lambda probs, cfg, betas=None: imdn.derive_genotype(
    probs, _imdn_ops(cfg), cfg.share_alpha
  ),
  genotype=imdn.IMDNGenotype,
  build_network=lambda genotype, cfg: imdn.IMDNNetwork(
    genotype,
    scale=cfg.scale,
    features=cfg.features,
    num_blocks=cfg.num_blocks,
    distill=cfg.distill,
  ),
  genotype_weights=lambda genotype, cfg: imdn.genotype_weights(
    genotype, _imdn_ops(cfg), cfg.share_alpha, cfg.num_blocks
  ),
  task="super_resolution",
  op_costs=lambda cfg: imdn.op_costs(
    _imdn_ops(cfg), cfg.share_alpha, cfg.num_blocks, cfg.scale, cfg.features, cfg.distill
  ),
  edge_names=imdn_edge_names,
  renamed_alphas={imdn.OLD_ALPHA: imdn.ALPHA},
)

DLSR = SearchSpace(
  name="dlsr",
  validate=_validate_dlsr,
  build_supernet=lambda cfg: dlsr.DLSRSupernet(
    scale=cfg.scale,
    features=cfg.features,
    num_cells=cfg.num_cells,
    op_names=_dlsr_ops(cfg),
    track_running_stats=cfg.track_running_stats,
    partial_channels=cfg.partial_channels,
  ),
  alpha_shapes=lambda cfg: dlsr.alpha_shapes(cfg.num_cells, _dlsr_ops(cfg)),
  # the cell's candidates label the alpha history; 'network' rows choose earlier cells
  op_names=_dlsr_ops,
  derive_genotype=lambda probs, cfg, betas=None: dlsr_encoding.derive_genotype(
    probs, _dlsr_ops(cfg)
  ),
  genotype=dlsr_encoding.DLSRGenotype,
  build_network=lambda genotype, cfg: dlsr.DLSRNetwork(
    genotype, scale=cfg.scale, features=cfg.features
  ),
  genotype_weights=lambda genotype, cfg: dlsr_encoding.genotype_weights(genotype, _dlsr_ops(cfg)),
  edge_op_names=lambda cfg: dlsr_encoding.row_op_names(cfg.num_cells, _dlsr_ops(cfg)),
  task="super_resolution",
  op_costs=lambda cfg: dlsr_encoding.op_costs(
    cfg.scale, cfg.features, cfg.num_cells, _dlsr_ops(cfg)
  ),
  edge_names=dlsr_edge_names,
)
