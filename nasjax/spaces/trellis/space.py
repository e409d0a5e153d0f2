"""The trellis segmentation space (Auto-DeepLab) as functions of ``config.space``.

Auto-DeepLab (Liu et al., "Auto-DeepLab: Hierarchical Neural Architecture
Search for Semantic Image Segmentation", CVPR 2019, arXiv 1901.02985)
searches one DARTS cell and the network-level path of a segmentation
network at once; here with the short (one level per layer) connections only.
The layout, network-level weights and Viterbi decoding are in
:mod:`nasjax.spaces.trellis.layout`, the genotype in
:mod:`nasjax.spaces.trellis.genotype`, the networks in
:mod:`nasjax.spaces.trellis.network`, the config fields and validation in
:mod:`nasjax.spaces.trellis.space_config`. This module builds
the networks from ``config.space``, decodes and encodes genotypes, prunes
the supernet for the single-stage read-out, and registers the space.

``config.space`` fields (defaults: Auto-DeepLab's search settings on
Cityscapes): ``name='trellis'``, ``num_classes`` (19), ``layers`` (L = 12),
``blocks`` (B = 5), ``filter_multiplier`` (F = 8; node ``(l, s)`` has
``B * F * 2**s`` channels), ``levels`` (4: downsample rates 4 .. 32; >= 2),
``stem_channels`` (64), ``aspp_channels`` (256), ``aspp_rate`` (24, the ASPP
dilation at level 0, halved per level), ``ops`` (the 8 DARTS candidates),
``track_running_stats`` (False: cell BNs use batch statistics),
``pruned_transitions`` (``[l, t, s]`` int triples) and ``pruned_ops``
(``[edge, op]`` pairs), both empty unless the single-stage read-out pruned
the supernet (:func:`prune_fields`).

Architecture weights: ``{'cell': (E, O), 'network2': (n2, 2), 'network3':
(n3, 3)}`` with ``E = sum_{i<B} (i + 2)`` (20 for B = 5), one cell alpha
shared by every cell; the network rows are the source nodes' outgoing
transitions (:mod:`~nasjax.spaces.trellis.layout`).

Example:
  >>> from nasjax.spaces.trellis.genotype import TrellisGenotype
  >>> from nasjax.spaces.trellis.space_config import alpha_shapes, default_space_config
  >>> cfg = default_space_config()
  >>> alpha_shapes(cfg)
  {'cell': (20, 8), 'network2': (21, 2), 'network3': (21, 3)}
  >>> g = TrellisGenotype.from_string(
  ...     'path=0,0,1,2,2,2,1,1,1,2,3,3;cell=' + '|'.join(['sep_conv_3x3~0,skip_connect~1'] * 5))
  >>> derive_genotype(genotype_weights(g, cfg), cfg) == g
  True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.errors import ConfigError
from nasjax.spaces.base import EdgeNames, SearchSpace, select_like
from nasjax.spaces.darts import space as darts_config
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.trellis import layout
from nasjax.spaces.trellis.genotype import TrellisGenotype
from nasjax.spaces.trellis.layout import viterbi_path
from nasjax.spaces.trellis.network import (
  TrellisNetwork,
  TrellisSupernet,
  cell_name,
  genotype_edge_ops,
)
from nasjax.spaces.trellis.space_config import (
  alpha_shapes,
  check_genotype,
  edge_op_names,
  field_value,
  num_edges,
  op_names,
  pruned_ops,
  pruned_transitions,
  validate,
)

SpaceConfig = Any  # an ml_collections.ConfigDict: config.space
PyTree = Any


def build_supernet(cfg: SpaceConfig) -> TrellisSupernet:
  """The (possibly pruned) :class:`TrellisSupernet` of a validated ``config.space``."""
  return TrellisSupernet(
    num_classes=field_value(cfg, "num_classes"),
    layers=field_value(cfg, "layers"),
    blocks=field_value(cfg, "blocks"),
    filter_multiplier=field_value(cfg, "filter_multiplier"),
    levels=field_value(cfg, "levels"),
    stem_channels=field_value(cfg, "stem_channels"),
    aspp_channels=field_value(cfg, "aspp_channels"),
    aspp_rate=field_value(cfg, "aspp_rate"),
    op_names=op_names(cfg),
    track_running_stats=field_value(cfg, "track_running_stats"),
    pruned_transitions=pruned_transitions(cfg),
    pruned_ops=pruned_ops(cfg),
  )


def build_network(
  genotype: TrellisGenotype,
  cfg: SpaceConfig,
  affine: bool = False,
  track_running_stats: bool | None = None,
) -> TrellisNetwork:
  """The :class:`TrellisNetwork` of ``genotype``; BN settings default to the search's."""
  check_genotype(genotype, cfg)
  track = (
    field_value(cfg, "track_running_stats") if track_running_stats is None else track_running_stats
  )
  return TrellisNetwork(
    genotype,
    num_classes=field_value(cfg, "num_classes"),
    filter_multiplier=field_value(cfg, "filter_multiplier"),
    stem_channels=field_value(cfg, "stem_channels"),
    aspp_channels=field_value(cfg, "aspp_channels"),
    aspp_rate=field_value(cfg, "aspp_rate"),
    affine=affine,
    track_running_stats=track,
  )


def derive_genotype(
  probs: Mapping[str, Any], cfg: SpaceConfig, betas: Mapping[str, Any] | None = None
) -> TrellisGenotype:
  """The decoded architecture: DARTS' rule for the cell, Viterbi for the path.

  The cell: per block, the two incoming edges with the largest non-``none``
  weight, each with its best non-``none`` op
  (:func:`~nasjax.spaces.darts.space.derive_cell`). The path:
  :func:`~nasjax.spaces.trellis.layout.viterbi_path` of the network rows.

  Args:
    probs: ``{'cell': (E, O), 'network2': ..., 'network3': ...}`` from the relaxation.
    cfg: ``config.space``.
    betas: unused (the space has no edge normalisation).
  """
  del betas
  host = jax.device_get(dict(probs))
  blocks, names = field_value(cfg, "blocks"), op_names(cfg)
  cell = darts_config.derive_cell(np.asarray(host["cell"]), (names,) * num_edges(cfg), blocks)
  path = viterbi_path(host, field_value(cfg, "layers"), field_value(cfg, "levels"))
  return TrellisGenotype(cell, path)


def genotype_weights(genotype: TrellisGenotype, cfg: SpaceConfig) -> dict[str, np.ndarray]:
  """One-hot float32 weights under which the supernet computes ``genotype``'s network.

  Cell rows as :func:`~nasjax.spaces.darts.space.genotype_weights` (1 on
  the chosen op of the genotype's edges, other rows zero); network rows of
  the path's source nodes (the stem, then ``(l, path[l])`` for ``l < L - 1``)
  1 on the move the path takes, all other rows zero.

  Raises:
    GenotypeError: if the genotype does not fit ``cfg``.
  """
  check_genotype(genotype, cfg)
  names = op_names(cfg)
  out = {k: np.zeros(shape, np.float32) for k, shape in alpha_shapes(cfg).items()}
  for e, edge in enumerate(genotype_edge_ops(genotype)):
    for op in edge:
      out["cell"][e, names.index(op)] = 1.0
  index = layout.transition_index(field_value(cfg, "layers"), field_value(cfg, "levels"))
  for layer, s in enumerate(genotype.path):
    key, row, col = index[(layer, genotype.path[layer - 1] if layer else 0, s)]
    out[key][row, col] = 1.0
  return out


def prune_fields(
  op_weights: Mapping[str, Any], cfg: SpaceConfig, threshold: float
) -> dict[str, list[list[Any]]]:
  """The ``config.space`` pruning fields that drop every weight below ``threshold``.

  Transitions whose network weight is ``< threshold`` are pruned, then every
  transition out of a node left without an incoming one (propagated through
  the layers); cell ops (not ``none``) whose weight on an edge is ``<
  threshold`` are pruned on that edge. Entries already in ``cfg`` are kept.

  Args:
    op_weights: the mixing weights the supernet runs with (e.g. the
      relaxation's probabilities), shapes of :func:`alpha_shapes`.
    cfg: ``config.space``.
    threshold: the smallest weight kept.

  Returns:
    ``{'pruned_transitions': [[l, t, s], ...], 'pruned_ops': [[edge, op], ...]}``,
    JSON-friendly, to set on ``config.space``.

  Raises:
    ConfigError: if the threshold leaves no path from the stem to the last layer.
  """
  host = {k: np.asarray(v, np.float64) for k, v in jax.device_get(dict(op_weights)).items()}
  layers, levels = field_value(cfg, "layers"), field_value(cfg, "levels")
  pruned = set(pruned_transitions(cfg))
  for tr, (key, row, col) in layout.transition_index(layers, levels).items():
    if host[key][row, col] < threshold:
      pruned.add(tr)
  closed = layout.pruned_closure(layers, levels, pruned)
  _, alive = layout.live_layout(layers, levels, frozenset(closed))
  if not any(layer == layers - 1 for layer, _ in alive):
    raise ConfigError(
      f"pruning threshold {threshold} leaves no path from the stem to the last layer; lower it"
    )
  names = op_names(cfg)
  dropped = set(pruned_ops(cfg))
  for e in range(num_edges(cfg)):
    for o, op in enumerate(names):
      if op != "none" and host["cell"][e, o] < threshold:
        dropped.add((e, op))
  return {
    "pruned_transitions": [list(tr) for tr in closed],
    "pruned_ops": [[e, op] for e, op in sorted(dropped)],
  }


def param_shapes(model: nn.Module, cfg: SpaceConfig) -> PyTree:
  """The variable shapes of a trellis supernet (abstract; nothing is run)."""
  x = jnp.zeros((1, 32, 32, 3), jnp.float32)
  weights = {k: jnp.zeros(s, jnp.float32) for k, s in alpha_shapes(cfg).items()}
  return jax.eval_shape(lambda: model.init(jax.random.key(0), x, weights, train=True))


def prune_params(variables: PyTree, cfg: SpaceConfig) -> PyTree:
  """The supernet variables (``{'params': ..., 'batch_stats': ...}``) the pruned supernet uses.

  ``cfg`` is the pruned ``config.space`` (with the fields of :func:`prune_fields`).
  """
  like = param_shapes(build_supernet(cfg), cfg)
  return {k: select_like(variables[k], v) for k, v in like.items() if k in variables}


def network_params(supernet_tree: PyTree, genotype: TrellisGenotype) -> PyTree:
  """The part of a supernet variable tree (``params`` or ``batch_stats``) a decoded network uses.

  The stem, the cell of each path transition with ``preprocess1``,
  ``preprocess0`` where the cell has ``s0``, and the genotype's edges with
  their op only, and the last level's head: exactly the variables of
  :class:`TrellisNetwork` with the search's BN settings (``affine=False``).
  """
  out = {k: supernet_tree[k] for k in ("stem", f"aspp_{genotype.path[-1]}") if k in supernet_tree}
  path = genotype.path
  edge_ops = genotype_edge_ops(genotype)
  edges = darts.cell_edges(genotype.blocks)
  for layer, s in enumerate(path):
    name = cell_name(layer, path[layer - 1] if layer else 0, s)
    if name not in supernet_tree:
      continue
    has_s0 = layer == 1 and s == 0 or layer >= 2 and path[layer - 2] == s
    src, cell = supernet_tree[name], {}
    for key in ("preprocess1", "preprocess0") if has_s0 else ("preprocess1",):
      if key in src:
        cell[key] = src[key]
    for e, ((_, j), names) in enumerate(zip(edges, edge_ops, strict=True)):
      edge = src.get(f"edge_{e}", {})
      kept = {k: edge[k] for op in names for k in (op, f"{op}_bn") if k in edge}
      if kept and (j > 0 or has_s0):
        cell[f"edge_{e}"] = kept
    if cell:
      out[name] = cell
  return out


def edge_names(cfg: SpaceConfig) -> dict[str, EdgeNames]:
  """The cell's edges (``block i ← c_{k-2}``, block by input) and the network rows' nodes.

  A network row is the node whose outgoing moves it weighs: ``stem`` or
  ``layer l, level s`` (downsample rate ``4 * 2**s``), laid out layer (row)
  by level (column).

  Example:
    >>> from nasjax.spaces.trellis.space_config import default_space_config
    >>> names = edge_names(default_space_config())
    >>> names['cell'].rows[2], names['network2'].rows[:2]
    ('block 1 ← c_{k-2}', ('stem (1/4)', 'layer 0, level 0 (1/4)'))
  """
  blocks = field_value(cfg, "blocks")
  out = {
    "cell": darts_config.cell_edge_names(blocks, "trellis cell (shared by every layer)", "block")
  }
  sources = layout.source_rows(field_value(cfg, "layers"), field_value(cfg, "levels"))
  for key, shape in alpha_shapes(cfg).items():
    if key == "cell":
      continue
    nodes = sorted((row, node) for node, (k, row) in sources.items() if k == key)
    if len(nodes) != shape[0]:
      raise ValueError(f"{key}: {len(nodes)} source nodes for {shape[0]} rows")
    rows = tuple(
      "stem (1/4)" if layer < 0 else f"layer {layer}, level {s} (1/{4 * 2**s})"
      for _, (layer, s) in nodes
    )
    grid = tuple((layer + 1, s) for _, (layer, s) in nodes)
    title = f"trellis network, nodes with {shape[1]} moves"
    out[key] = EdgeNames(title, rows, grid, kind="node", candidates="move")
  return out


TRELLIS = SearchSpace(
  name="trellis",
  validate=validate,
  build_supernet=build_supernet,
  alpha_shapes=alpha_shapes,
  # the cell's candidates label the alpha history; network rows have their moves as columns
  op_names=op_names,
  derive_genotype=derive_genotype,
  genotype=TrellisGenotype,
  build_network=lambda genotype, cfg: build_network(genotype, cfg),
  genotype_weights=genotype_weights,
  edge_op_names=edge_op_names,
  task="segmentation",
  op_costs=None,
  prune_fields=prune_fields,
  edge_names=edge_names,
)
