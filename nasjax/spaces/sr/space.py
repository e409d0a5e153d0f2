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

from nasjax.errors import ConfigError
from nasjax.spaces.base import SearchSpace
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


def _int_at_least(cfg: SpaceConfig, field: str, low: int) -> None:
  value = cfg[field]
  if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
    raise ConfigError(f"config.space.{field} must be an integer >= {low}, got {value!r}")


def _check_common(
  cfg: SpaceConfig, known: set[str], channel_fields: tuple[str, ...], candidates: tuple[str, ...]
) -> None:
  unknown = sorted(set(cfg.keys()) - known)
  if unknown:
    raise ConfigError(
      f"config.space has no field(s) {unknown} for space {cfg.name!r}; its fields are "
      f"{sorted(known)}"
    )
  if cfg.scale not in SCALES:
    raise ConfigError(f"config.space.scale must be one of {list(SCALES)}, got {cfg.scale!r}")
  ops = tuple(cfg.ops)
  bad = [op for op in ops if op not in candidates]
  if bad:
    raise ConfigError(
      f"unknown op(s) {bad} in config.space.ops; the candidates of {cfg.name!r} are "
      f"{list(candidates)}"
    )
  if not ops or len(set(ops)) != len(ops):
    raise ConfigError(f"config.space.ops must list distinct candidates, got {list(ops)}")
  if not isinstance(cfg.track_running_stats, bool):
    raise ConfigError(
      f"config.space.track_running_stats must be True or False, got {cfg.track_running_stats!r}"
    )
  _int_at_least(cfg, "partial_channels", 1)
  k = cfg.partial_channels
  for field in channel_fields:
    if cfg[field] % k:
      raise ConfigError(
        f"config.space.{field} ({cfg[field]}) must be divisible by "
        f"config.space.partial_channels ({k})"
      )


def _validate_imdn(cfg: SpaceConfig) -> None:
  _check_common(cfg, set(IMDN_DEFAULTS), ("features", "distill"), SR_OPS)
  for field in ("features", "num_blocks", "distill"):
    _int_at_least(cfg, field, 1)
  if not isinstance(cfg.share_alpha, bool):
    raise ConfigError(f"config.space.share_alpha must be True or False, got {cfg.share_alpha!r}")
  if not cfg.distill < cfg.features:
    raise ConfigError(
      f"config.space.distill ({cfg.distill}) must be smaller than config.space.features "
      f"({cfg.features})"
    )


def _validate_dlsr(cfg: SpaceConfig) -> None:
  _check_common(cfg, set(dlsr_encoding.DEFAULTS), ("features",), dlsr_encoding.KNOWN_OPS)
  _int_at_least(cfg, "features", 2)
  _int_at_least(cfg, "num_cells", 3)
  if cfg.features % (2 * cfg.partial_channels):
    raise ConfigError(
      f"config.space.features ({cfg.features}) must be divisible by 2 * "
      f"config.space.partial_channels ({2 * cfg.partial_channels}): the cell distils half"
    )


def _dlsr_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  return tuple(op for op in dlsr_encoding.KNOWN_OPS if op in tuple(cfg.ops))


def _imdn_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  return tuple(op for op in SR_OPS if op in tuple(cfg.ops))  # the candidates' canonical order


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
)
