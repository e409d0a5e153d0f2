"""The :class:`SearchSpace` record: what a search space provides to the rest of nasjax.

Also :class:`EdgeNames`, how figures and logs name an alpha tensor and its
rows, and :func:`select_like`, which cuts a variable tree down to the layout
of a smaller network built from the same modules (a decoded or pruned
supernet).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import numpy as np

SpaceConfig = Any  # an ml_collections.ConfigDict: config.space


@dataclasses.dataclass(frozen=True)
class EdgeNames:
  """What one alpha tensor and each of its rows are, in words (figure titles and legends).

  Attributes:
    title: the tensor, e.g. ``'normal cell'`` or ``'IMDN convolutions'``.
    rows: one name per alpha row, e.g. ``'node 1 ← node 0'`` or
      ``'block 2 c3'``; cell states are written ``c_{k-1}`` (figures set
      them as math).
    grid: the panel ``(row, column)`` of every alpha row in a figure of one
      panel per row (node by input, block by convolution); None for a plain
      grid in row order.
    kind: what a row is (``'edge'``, ``'convolution'``, ``'input'``,
      ``'node'``), for titles such as "op probabilities per edge".
    candidates: what a row's columns are (``'op'``, ``'cell'``, ``'move'``).

  Example:
    >>> EdgeNames.plain("cell", 3).rows
    ('edge 0', 'edge 1', 'edge 2')
  """

  title: str
  rows: tuple[str, ...]
  grid: tuple[tuple[int, int], ...] | None = None
  kind: str = "edge"
  candidates: str = "op"

  def __post_init__(self) -> None:
    if self.grid is not None and len(self.grid) != len(self.rows):
      raise ValueError(f"{len(self.rows)} row names but {len(self.grid)} grid cells")

  @classmethod
  def plain(cls, name: str, num_rows: int) -> EdgeNames:
    """Generic names: the tensor's key as title, ``edge 0``, ``edge 1``, ... as rows."""
    return cls(name, tuple(f"edge {e}" for e in range(num_rows)))


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
    genotype: the space's genotype class (:class:`~nasjax.spaces.genotype.Genotype`:
      ``space``, ``from_string``, ``from_dict``, ``to_dict``, ``recognizes``);
      genotype files and JSON of any space are read through it
      (:func:`nasjax.spaces.registry.genotype_from_dict`).
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
    task: the name of what the networks of the space learn, a registered
      :class:`~nasjax.tasks.base.Task` (``classification``,
      ``super_resolution``, ``segmentation``): its loss, metric and data.
    op_costs: ``space_config -> {name: (E, O) multiply-adds}`` of every
      candidate on every alpha row, for the FLOPs-constrained alpha loss
      (``config.regularizers.flops``); None where the space has no such costs.
    prune_fields: ``(op_weights, space_config, threshold) -> {field: value}``,
      the ``config.space`` fields that remove the supernet's paths and ops
      whose frozen weight is below ``threshold`` (the single-stage read-out's
      ``prune_threshold``); None where the space cannot prune.
    benchmark: ``setting -> table or None``, the space's table of trained
      architectures (NAS-Bench-201's for ``nb201``) from the config's
      ``nb201_table`` setting; a search looks each epoch's genotype up in it
      (``table.lookup(genotype).to_dict()``). None where the space has no
      benchmark.
    edge_names: ``space_config -> {name: EdgeNames}``, what every alpha
      tensor and row is (the alpha and margin figures' titles and legends);
      None for generic names (:meth:`EdgeNames.plain`).
    renamed_alphas: ``{old name: name}`` of alpha tensors renamed since
      workdirs were written: checkpoints, ``alphas.npz`` and saved networks
      holding an old name are read under the new one
      (:meth:`current_names`).
  """

  name: str
  validate: Callable[[SpaceConfig], None]
  build_supernet: Callable[[SpaceConfig], nn.Module]
  alpha_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]]
  op_names: Callable[[SpaceConfig], tuple[str, ...]]
  derive_genotype: Callable[..., Any]
  genotype: type
  build_network: Callable[[Any, SpaceConfig], nn.Module]
  genotype_weights: Callable[[Any, SpaceConfig], dict[str, np.ndarray]]
  beta_shapes: Callable[[SpaceConfig], dict[str, tuple[int, ...]]] = lambda cfg: {}
  edge_op_names: Callable[[SpaceConfig], dict[str, tuple[tuple[str, ...], ...]]] | None = None
  task: str = "classification"
  op_costs: Callable[[SpaceConfig], dict[str, np.ndarray]] | None = None
  prune_fields: Callable[[Any, SpaceConfig, float], dict[str, Any]] | None = None
  benchmark: Callable[[str], Any] | None = None
  edge_names: Callable[[SpaceConfig], dict[str, EdgeNames]] | None = None
  renamed_alphas: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def parse_genotype(self, text: str) -> Any:
    """A genotype of this space from its string form."""
    return self.genotype.from_string(text)

  def costs(self, cfg: SpaceConfig) -> dict[str, np.ndarray] | None:
    """The multiply-adds per candidate (``{name: (E, O)}``), or None where the space has none."""
    return None if self.op_costs is None else self.op_costs(cfg)

  def load_benchmark(self, setting: str) -> Any:
    """The space's benchmark table for ``config.nb201_table``, or None (none, or turned off)."""
    return None if self.benchmark is None else self.benchmark(setting)

  def ops_per_row(self, cfg: SpaceConfig) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The ops of every row of every alpha tensor (``edge_op_names`` or the uniform default)."""
    if self.edge_op_names is not None:
      return self.edge_op_names(cfg)
    names = self.op_names(cfg)
    return {k: (names,) * shape[0] for k, shape in self.alpha_shapes(cfg).items()}

  def edge_labels(self, cfg: SpaceConfig) -> dict[str, EdgeNames]:
    """The names of every alpha tensor and row (``edge_names``, or generic ones)."""
    if self.edge_names is not None:
      return self.edge_names(cfg)
    return {k: EdgeNames.plain(k, shape[0]) for k, shape in self.alpha_shapes(cfg).items()}

  def current_names(self, tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` (alphas, op weights, probabilities by tensor) with old tensor names renamed.

    Raises:
      ValueError: if ``tree`` holds both a tensor's old and its new name.
    """
    out: dict[str, Any] = {}
    for key, value in tree.items():
      name = self.renamed_alphas.get(key, key)
      if name in out:
        raise ValueError(f"alpha tensor {name!r} is held under its old and its new name")
      out[name] = value
    return out


def select_like(tree: Any, like: Any) -> Any:
  """The sub-tree of ``tree`` with exactly the keys of ``like`` (shapes must agree).

  Raises:
    ValueError: if ``like`` has a key or shape ``tree`` lacks.
  """
  if isinstance(like, Mapping):
    if not isinstance(tree, Mapping) or not set(like) <= set(tree):
      missing = sorted(set(like) - set(tree)) if isinstance(tree, Mapping) else list(like)
      raise ValueError(f"the variables lack {missing}")
    return {k: select_like(tree[k], v) for k, v in like.items()}
  if tuple(np.shape(tree)) != tuple(np.shape(like)):
    raise ValueError(f"shape {np.shape(tree)} does not match {np.shape(like)}")
  return tree
