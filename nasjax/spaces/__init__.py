"""Search spaces, looked up by the name in ``config.space.name``.

A :class:`SearchSpace` bundles what the rest of nasjax needs to know about a
space, each as a function of the ``config.space`` ConfigDict: the supernet,
the shapes of its architecture logits, genotype derivation and parsing, and
the discrete network of a genotype. Registered: ``'nb201'``
(:mod:`nasjax.spaces.nb201.supernet`), ``'darts'`` (:mod:`nasjax.spaces.darts.supernet`,
configured through :mod:`nasjax.spaces.darts.space`), and the
super-resolution spaces ``'imdn'`` and ``'dlsr'``
(:mod:`nasjax.spaces.sr.space`), and the segmentation trellis ``'trellis'``
(Auto-DeepLab, :mod:`nasjax.spaces.trellis.space`).

Example:
  >>> from nasjax.config.search import search_config
  >>> from nasjax.spaces import get_space
  >>> config = search_config()
  >>> get_space(config.space.name).alpha_shapes(config.space)
  {'cell': (6, 5)}
"""

from __future__ import annotations

import numpy as np

from nasjax.errors import ConfigError
from nasjax.spaces.base import SearchSpace, SpaceConfig
from nasjax.spaces.darts import network as darts_network
from nasjax.spaces.darts import space as darts_config
from nasjax.spaces.genotype import NB201_OPS, DartsGenotype, NB201Genotype
from nasjax.spaces.nb201 import supernet as nb201
from nasjax.spaces.sr import space as sr_spaces
from nasjax.spaces.trellis import space as trellis


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
  unknown = sorted(set(cfg.keys()) - known)
  if unknown:
    raise ConfigError(
      f"config.space has no field(s) {unknown} for space 'nb201'; its fields are {sorted(known)}"
    )
  for field in ("channels", "cells_per_stage", "num_classes"):
    value = cfg[field]
    if not (isinstance(value, int) and value >= 1):
      raise ConfigError(f"config.space.{field} must be an integer >= 1, got {value!r}")
  ops = tuple(cfg.ops)
  bad = [op for op in ops if op not in NB201_OPS]
  if bad:
    raise ConfigError(
      f"unknown op(s) {bad} in config.space.ops; NAS-Bench-201 ops are {list(NB201_OPS)}"
    )
  if not ops or len(set(ops)) != len(ops) or ops == ("none",):
    raise ConfigError(
      f"config.space.ops must list distinct ops with at least one besides 'none', got {list(ops)}"
    )
  k = cfg.get("partial_channels", 1)
  if not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
    raise ConfigError(f"config.space.partial_channels must be an integer >= 1, got {k!r}")
  if cfg.channels % k:
    raise ConfigError(
      f"config.space.channels ({cfg.channels}) must be divisible by "
      f"config.space.partial_channels ({k})"
    )
  for field in ("edge_normalization", "conv_bias", "track_running_stats"):
    if not isinstance(cfg.get(field, False), bool):
      raise ConfigError(f"config.space.{field} must be True or False, got {cfg[field]!r}")


def _nb201_ops(cfg: SpaceConfig) -> tuple[str, ...]:
  # Keep the benchmark's column order whatever order the config lists them in.
  return tuple(op for op in NB201_OPS if op in tuple(cfg.ops))


NB201 = SearchSpace(
  name="nb201",
  validate=_validate_nb201,
  build_supernet=lambda cfg: nb201.NB201Supernet(
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
  alpha_shapes=lambda cfg: nb201.alpha_shapes(_nb201_ops(cfg)),
  op_names=_nb201_ops,
  derive_genotype=lambda probs, cfg, betas=None: nb201.derive_genotype(probs, _nb201_ops(cfg)),
  parse_genotype=NB201Genotype.from_string,
  build_network=lambda genotype, cfg: nb201.NB201Network(
    genotype,
    channels=cfg.channels,
    cells_per_stage=cfg.cells_per_stage,
    num_classes=cfg.num_classes,
    scan_cells=cfg.scan_cells,
  ),
  genotype_weights=lambda genotype, cfg: nb201.genotype_weights(genotype, _nb201_ops(cfg)),
  beta_shapes=lambda cfg: (
    {"cell": (nb201.NUM_EDGES,)} if cfg.get("edge_normalization", False) else {}
  ),
)

DARTS = SearchSpace(
  name="darts",
  validate=darts_config.validate,
  build_supernet=darts_config.build_supernet,
  alpha_shapes=darts_config.alpha_shapes,
  op_names=darts_config.op_names,
  derive_genotype=darts_config.derive_genotype,
  parse_genotype=DartsGenotype.from_string,
  # The evaluation network at the search's size, without auxiliary head; it
  # returns (logits, None).
  build_network=lambda genotype, cfg: darts_network.NetworkCIFAR(
    genotype,
    channels=cfg.channels,
    layers=cfg.layers,
    num_classes=cfg.num_classes,
    auxiliary=False,
    stem_multiplier=cfg.stem_multiplier,
  ),
  genotype_weights=darts_config.genotype_weights,
  beta_shapes=darts_config.beta_shapes,
  edge_op_names=darts_config.edge_op_names,
)

#: Every registered search space, by name.
SPACES: dict[str, SearchSpace] = {
  space.name: space for space in (NB201, DARTS, sr_spaces.IMDN, sr_spaces.DLSR, trellis.TRELLIS)
}


def op_costs(space: SearchSpace, cfg: SpaceConfig) -> dict[str, np.ndarray] | None:
  """The space's multiply-adds per candidate (``{name: (E, O)}``), or None where it has none."""
  return None if space.op_costs is None else space.op_costs(cfg)


def get_space(name: str) -> SearchSpace:
  """The search space registered as ``name``.

  Raises:
    ConfigError: if no space has that name.
  """
  if name not in SPACES:
    raise ConfigError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
  return SPACES[name]
