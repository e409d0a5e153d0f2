"""Search spaces, looked up by the name in ``config.space.name``.

A :class:`SearchSpace` bundles what the rest of nasjax needs to know about a
space, each as a function of the ``config.space`` ConfigDict: the supernet,
the shapes of its architecture logits, genotype derivation and parsing, and
the discrete network of a genotype. Registered: ``'nb201'``
(:mod:`nasjax.spaces.nb201`) and ``'darts'`` (:mod:`nasjax.spaces.darts`,
configured through :mod:`nasjax.spaces.darts_config`).

Example:
  >>> from nasjax.config import search_config
  >>> from nasjax.spaces import get_space
  >>> config = search_config()
  >>> get_space(config.space.name).alpha_shapes(config.space)
  {'cell': (6, 5)}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import numpy as np

from nasjax.errors import ConfigError
from nasjax.genotype import NB201_OPS, DartsGenotype, NB201Genotype
from nasjax.spaces import darts_config, darts_network, nb201

SpaceConfig = Any  # an ml_collections.ConfigDict: config.space


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """What a search space provides, as functions of ``config.space``.

  Attributes:
    name: the registry key (``config.space.name``).
    validate: raises ConfigError for an invalid ``config.space``.
    build_supernet: the Flax supernet, called as
      ``apply(variables, x, op_weights, train=...)``.
    alpha_shapes: the architecture logits, ``{name: shape}``.
    op_names: the candidate ops (the last axis of every alpha tensor) when
      every edge has the same ones; generic column labels otherwise (see
      ``edge_op_names``).
    derive_genotype: ``(probs, space_config, betas=None) -> genotype``
      (argmax rule) from the relaxation's op probabilities and, for spaces
      with edge normalisation, the raw edge logits ``betas``.
    parse_genotype: a genotype from its string form.
    build_network: the discrete network of a genotype,
      called as ``apply(variables, x, train=...)``.
    genotype_weights: ``(genotype, space_config) -> {name: (E, O) float32}``,
      the one-hot mixing weights under which the supernet computes the
      genotype's network with inherited weights: 1 on the chosen op of every
      edge the genotype uses, rows of edges it drops all zero.
      ``derive_genotype`` of these weights gives the genotype back (in the
      DARTS space up to the order of a node's two inputs: ties put the lower
      input first).
    beta_shapes: the edge-normalisation logits ``{name: shape}`` the
      supernet takes as ``edge_logits`` (empty when the space config turns
      edge normalisation off).
    edge_op_names: the ops of every alpha row, ``{name: (ops of row 0, ...)}``;
      by default ``op_names`` on every row. RobustDARTS' S1 has different
      ops on different edges.
  """

  name: str
  validate: Callable[[SpaceConfig], None]
  build_supernet: Callable[[SpaceConfig], nn.Module]
  alpha_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]]
  op_names: Callable[[SpaceConfig], tuple[str, ...]]
  derive_genotype: Callable[..., Any]
  parse_genotype: Callable[[str], Any]
  build_network: Callable[[Any, SpaceConfig], nn.Module]
  genotype_weights: Callable[[Any, SpaceConfig], dict[str, np.ndarray]]
  beta_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]] = lambda cfg: {}
  edge_op_names: Callable[[SpaceConfig], dict[str, tuple[tuple[str, ...], ...]]] | None = None

  def ops_per_row(self, cfg: SpaceConfig) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The ops of every row of every alpha tensor (``edge_op_names`` or the uniform default)."""
    if self.edge_op_names is not None:
      return self.edge_op_names(cfg)
    names = self.op_names(cfg)
    return {k: (names,) * shape[0] for k, shape in self.alpha_shapes(cfg).items()}


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
  if not isinstance(cfg.get("edge_normalization", False), bool):
    raise ConfigError(
      f"config.space.edge_normalization must be True or False, got {cfg.edge_normalization!r}"
    )


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
SPACES: dict[str, SearchSpace] = {NB201.name: NB201, DARTS.name: DARTS}


def get_space(name: str) -> SearchSpace:
  """The search space registered as ``name``.

  Raises:
    ConfigError: if no space has that name.
  """
  if name not in SPACES:
    raise ConfigError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
  return SPACES[name]
