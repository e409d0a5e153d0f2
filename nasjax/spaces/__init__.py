"""Search spaces, looked up by the name in ``config.space.name``.

A :class:`SearchSpace` bundles what the rest of nasjax needs to know about a
space, each as a function of the ``config.space`` ConfigDict: the supernet,
the shapes of its architecture logits, genotype derivation and parsing, and
the discrete network of a genotype.

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

from nasjax.errors import ConfigError
from nasjax.genotype import NB201_OPS, NB201Genotype
from nasjax.spaces import nb201

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
    op_names: the candidate ops (the last axis of every alpha tensor).
    derive_genotype: ``(probs, space_config, betas=None) -> genotype``
      (argmax rule) from the relaxation's op probabilities and, for spaces
      with edge normalisation, the raw edge logits ``betas``.
    parse_genotype: a genotype from its string form.
    build_network: the discrete network of a genotype,
      called as ``apply(variables, x, train=...)``.
    beta_shapes: the edge-normalisation logits ``{name: shape}`` the
      supernet takes as ``edge_logits`` (empty when the space config turns
      edge normalisation off).
  """

  name: str
  validate: Callable[[SpaceConfig], None]
  build_supernet: Callable[[SpaceConfig], nn.Module]
  alpha_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]]
  op_names: Callable[[SpaceConfig], tuple[str, ...]]
  derive_genotype: Callable[..., Any]
  parse_genotype: Callable[[str], Any]
  build_network: Callable[[Any, SpaceConfig], nn.Module]
  beta_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]] = lambda cfg: {}


def _validate_nb201(cfg: SpaceConfig) -> None:
  known = {
    "name",
    "channels",
    "cells_per_stage",
    "num_classes",
    "ops",
    "track_running_stats",
    "scan_cells",
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
)

#: Every registered search space, by name.
SPACES: dict[str, SearchSpace] = {NB201.name: NB201}


def get_space(name: str) -> SearchSpace:
  """The search space registered as ``name``.

  Raises:
    ConfigError: if no space has that name.
  """
  if name not in SPACES:
    raise ConfigError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
  return SPACES[name]
