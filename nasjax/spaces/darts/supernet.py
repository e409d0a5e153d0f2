"""The DARTS CNN search space (Liu et al., ICLR 2019) and RobustDARTS' S1-S4.

A cell takes the outputs of the two previous cells, ``c_{k-2}`` and
``c_{k-1}`` (states 0 and 1), and computes ``steps`` intermediate nodes (4 in
DARTS); node ``i`` sums a mixed op on an edge from every earlier state
``j = 0..i+1``. Edges are ordered node by node, ``(node 0: j=0,1), (node 1:
j=0,1,2), ...``: 2+3+4+5 = 14 edges for 4 nodes. The cell output
concatenates the last ``multiplier`` nodes. A reduction cell halves the
resolution: its edges from states 0 and 1 have stride 2.

:class:`DartsSupernet` is DARTS' search network: a 3x3 stem with
``stem_multiplier * C`` channels and affine BN, ``layers`` cells (reduction
cells, with doubled channels, at ``layers // 3`` and ``2 * layers // 3``),
global average pooling and a linear classifier. Cell inputs are
preprocessed to C channels by a ReLU-1x1 conv-BN, or by a
:class:`~nasjax.spaces.ops.FactorizedReduce` when the previous cell reduced. All
cell BNs lack affine parameters; pools on mixed edges are followed by a BN,
as in DARTS' mixed op. The mixing weights are an argument,
``op_weights = {'normal': (14, num_ops), 'reduce': (14, num_ops)}``;
``none`` contributes nothing and is not computed.

Partial channels (PC-DARTS, Xu et al. ICLR 2020, arXiv 1907.05737):
with ``partial_channels=K`` a mixed edge applies its ops (built with C/K
channels) to the first C/K input channels only; the other channels bypass
(max-pooled 2x2 on stride-2 edges); the parts are concatenated and
channel-shuffled with K groups. Edge normalisation: with
``edge_logits = {'normal': (14,), 'reduce': (14,)}`` each node sums its
incoming edges weighted by a softmax of their logits.

Candidate-op sets (``config.space.op_set``): ``darts``, the 8 ops of
:data:`~nasjax.spaces.darts.genotype.DARTS_OPS` on every edge, and RobustDARTS' reduced
spaces (Zela et al., ICLR 2020, "Understanding and Robustifying
Differentiable Architecture Search", the space definitions of its code,
``src/spaces.py``): S1, a different pair of ops on each edge of each cell
type (:data:`S1_NORMAL`, :data:`S1_REDUCE`); S2 ``{skip_connect,
sep_conv_3x3}``, S3 ``{none, skip_connect, sep_conv_3x3}`` and S4 ``{noise,
sep_conv_3x3}`` on every edge. The config helpers (op lists per edge,
validation, genotype derivation) are in :mod:`nasjax.spaces.darts.space`.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.darts import supernet as darts
  >>> net = darts.DartsSupernet(channels=2, layers=2, stem_multiplier=1)
  >>> w = {k: jnp.full((14, 8), 1 / 8) for k in ('normal', 'reduce')}
  >>> x = jnp.zeros((2, 8, 8, 3))
  >>> shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), x, w, train=True))
  >>> shapes['params']['cell_0']['edge_0']['sep_conv_3x3']['pointwise_1']['kernel'].shape
  (1, 1, 4, 4)
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.spaces import ops
from nasjax.spaces.darts.genotype import DARTS_OPS

Array = jax.Array

#: Ops on one edge of each cell, one tuple per edge (14 for the 4-node cell).
EdgeOps = tuple[tuple[str, ...], ...]

#: RobustDARTS S1, normal cell: the candidate pair of each of the 14 edges.
S1_NORMAL: EdgeOps = (
  ("skip_connect", "dil_conv_3x3"), ("skip_connect", "dil_conv_5x5"),
  ("skip_connect", "dil_conv_5x5"), ("skip_connect", "sep_conv_3x3"),
  ("skip_connect", "dil_conv_3x3"), ("max_pool_3x3", "skip_connect"),
  ("skip_connect", "sep_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
  ("skip_connect", "dil_conv_3x3"), ("skip_connect", "sep_conv_3x3"),
  ("max_pool_3x3", "skip_connect"), ("skip_connect", "dil_conv_3x3"),
  ("dil_conv_3x3", "dil_conv_5x5"), ("dil_conv_3x3", "dil_conv_5x5"),
)  # fmt: skip

#: RobustDARTS S1, reduction cell: the candidate pair of each of the 14 edges.
S1_REDUCE: EdgeOps = (
  ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "dil_conv_3x3"),
  ("max_pool_3x3", "avg_pool_3x3"), ("max_pool_3x3", "avg_pool_3x3"),
  ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
  ("max_pool_3x3", "sep_conv_3x3"), ("skip_connect", "dil_conv_3x3"),
  ("skip_connect", "dil_conv_5x5"), ("max_pool_3x3", "avg_pool_3x3"),
  ("max_pool_3x3", "avg_pool_3x3"), ("skip_connect", "dil_conv_5x5"),
  ("skip_connect", "dil_conv_5x5"), ("skip_connect", "dil_conv_5x5"),
)  # fmt: skip

#: The ops on every edge of the uniform op sets.
UNIFORM_OP_SETS: dict[str, tuple[str, ...]] = {
  "darts": DARTS_OPS,
  "s2": ("skip_connect", "sep_conv_3x3"),
  "s3": ("none", "skip_connect", "sep_conv_3x3"),
  "s4": ("noise", "sep_conv_3x3"),
}

#: Every named op set of ``config.space.op_set``.
OP_SETS: tuple[str, ...] = ("darts", "s1", "s2", "s3", "s4")


def cell_edges(steps: int = 4) -> tuple[tuple[int, int], ...]:
  """The edges ``(node, input)`` of a cell in alpha-row order.

  Node ``i`` (0-based) takes inputs ``j = 0..i+1``; states 0 and 1 are the
  cell inputs.

  Example:
    >>> cell_edges(2)
    ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))
  """
  return tuple((i, j) for i in range(steps) for j in range(i + 2))


def node_fan_in(steps: int = 4) -> tuple[int, ...]:
  """The number of incoming edges of each node: ``(2, 3, ..., steps + 1)``."""
  return tuple(range(2, steps + 2))


def reduction_layers(layers: int) -> tuple[int, ...]:
  """The indices of the reduction cells: ``layers // 3`` and ``2 * layers // 3``."""
  return tuple(sorted({layers // 3, 2 * layers // 3}))


class DartsMixedEdge(nn.Module):
  """One edge of a search cell: ``sum_o w_o * op_o(x)`` (partial channels optional).

  Called as ``edge(x, weights)`` with ``weights`` of shape ``(len(op_names),)``.
  Parameters of op ``o`` live under the op's name; the BN after a pool op
  under ``{op}_bn``.

  Attributes:
    op_names: this edge's candidate ops.
    channels: C, the channels of the edge's input and output.
    stride: 2 on a reduction cell's edges from the cell inputs, else 1.
    partial_channels: K; the ops see the first C/K channels (K=1: all).
    track_running_stats: whether the op BNs keep running statistics.
    train: BN mode.
  """

  op_names: tuple[str, ...]
  channels: int
  stride: int = 1
  partial_channels: int = 1
  track_running_stats: bool = False
  train: bool = True

  @nn.compact
  def __call__(self, x: Array, weights: Array) -> Array:
    k = self.partial_channels
    c = self.channels // k
    inputs = x[..., :c] if k > 1 else x
    total = None
    for o, name in enumerate(self.op_names):
      if name == "none":
        continue
      y = ops.DartsOp(
        name, c, self.stride, affine=False, track_running_stats=self.track_running_stats, name=name
      )(inputs, self.train)
      if "pool" in name:
        y = ops.BatchNorm(False, self.track_running_stats, name=f"{name}_bn")(y, self.train)
      term = weights[o].astype(y.dtype) * y
      total = term if total is None else total + term
    if total is None:  # an edge whose only candidate is `none`
      total = ops.DartsOp("none", c, self.stride)(inputs, self.train)
    if k > 1:
      total = ops.partial_channel_merge(total, x[..., c:], k)
    return total


class DartsSearchCell(nn.Module):
  """A DARTS search cell: preprocessing, ``steps`` nodes of mixed edges, concat.

  Called as ``cell(s0, s1, weights, edge_weights=None)`` with ``weights`` of
  shape ``(num_edges, num_ops)`` and optional per-edge scales
  ``edge_weights`` of shape ``(num_edges,)`` (already normalised per node).

  Attributes:
    channels: C of this cell's nodes (the output has ``multiplier * C``).
    edge_ops: the candidate ops of each edge (:func:`cell_edges` order).
    reduction: whether this cell halves the resolution.
    reduction_prev: whether the previous cell did (``s0`` is then twice as large).
    steps, multiplier: intermediate nodes, and how many of the last ones are
      concatenated into the output.
    partial_channels, track_running_stats, train: as :class:`DartsMixedEdge`.
  """

  channels: int
  edge_ops: EdgeOps
  reduction: bool = False
  reduction_prev: bool = False
  steps: int = 4
  multiplier: int = 4
  partial_channels: int = 1
  track_running_stats: bool = False
  train: bool = True

  @nn.compact
  def __call__(
    self, s0: Array, s1: Array, weights: Array, edge_weights: Array | None = None
  ) -> Array:
    c, bn = self.channels, dict(affine=False, track_running_stats=self.track_running_stats)
    if self.reduction_prev:
      s0 = ops.FactorizedReduce(c, **bn, name="preprocess0")(s0, self.train)
    else:
      s0 = ops.ReLUConvBN(c, 1, **bn, name="preprocess0")(s0, self.train)
    s1 = ops.ReLUConvBN(c, 1, **bn, name="preprocess1")(s1, self.train)
    states = [s0, s1]
    for e, (i, j) in enumerate(cell_edges(self.steps)):
      if j == 0:
        states.append(None)  # node i starts; its state is the sum below
      y = DartsMixedEdge(
        self.edge_ops[e],
        c,
        2 if self.reduction and j < 2 else 1,
        self.partial_channels,
        self.track_running_stats,
        self.train,
        name=f"edge_{e}",
      )(states[j], weights[e])
      if edge_weights is not None:
        y = edge_weights[e].astype(y.dtype) * y
      states[i + 2] = y if states[i + 2] is None else states[i + 2] + y
    return jnp.concatenate(states[-self.multiplier :], axis=-1)


class DartsSupernet(nn.Module):
  """DARTS' search network (``model_search.Network``).

  Called as ``apply(variables, x, op_weights, train=..., edge_logits=None)``;
  ``op_weights`` maps ``'normal'`` / ``'reduce'`` to ``(num_edges, num_ops)``
  mixing weights, ``edge_logits`` (optional) to ``(num_edges,)`` raw edge
  logits, normalised here by a softmax over each node's incoming edges.

  Attributes:
    channels: C, the channels of the first cells' nodes (16 in DARTS).
    layers: the number of cells (8 in DARTS' search).
    steps: intermediate nodes per cell.
    multiplier: the last nodes concatenated into a cell's output.
    stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    num_classes: classifier outputs.
    normal_ops, reduce_ops: the candidate ops of each edge of each cell type
      (default: :data:`~nasjax.spaces.darts.genotype.DARTS_OPS` everywhere).
    partial_channels: PC-DARTS' K (1 = off).
    track_running_stats: whether the cell BNs keep running statistics.
  """

  channels: int = 16
  layers: int = 8
  steps: int = 4
  multiplier: int = 4
  stem_multiplier: int = 3
  num_classes: int = 10
  normal_ops: EdgeOps | None = None
  reduce_ops: EdgeOps | None = None
  partial_channels: int = 1
  track_running_stats: bool = False

  def edge_ops(self, kind: str) -> EdgeOps:
    """The candidate ops of each edge of the ``'normal'`` or ``'reduce'`` cell."""
    given = self.normal_ops if kind == "normal" else self.reduce_ops
    return given if given is not None else (DARTS_OPS,) * len(cell_edges(self.steps))

  @nn.compact
  def __call__(
    self,
    x: Array,
    op_weights: Mapping[str, Array],
    *,
    train: bool,
    edge_logits: Mapping[str, Array] | None = None,
  ) -> Array:
    num_edges = len(cell_edges(self.steps))
    weights, edge_weights = {}, {}
    for kind in ("normal", "reduce"):
      shape = (num_edges, len(self.edge_ops(kind)[0]))
      if op_weights[kind].shape != shape:
        raise ValueError(
          f"op_weights[{kind!r}] must have shape {shape}, got {op_weights[kind].shape}"
        )
      weights[kind] = op_weights[kind]
      edge_weights[kind] = (
        ops.node_softmax(edge_logits[kind], node_fan_in(self.steps)) if edge_logits else None
      )
    c = self.channels
    s0 = s1 = ops.Stem(self.stem_multiplier * c, name="stem")(x, train)
    reductions = reduction_layers(self.layers)
    reduction_prev = False
    for layer in range(self.layers):
      reduction = layer in reductions
      if reduction:
        c *= 2
      kind = "reduce" if reduction else "normal"
      cell = DartsSearchCell(
        c,
        self.edge_ops(kind),
        reduction,
        reduction_prev,
        self.steps,
        self.multiplier,
        self.partial_channels,
        self.track_running_stats,
        train,
        name=f"cell_{layer}",
      )
      s0, s1 = s1, cell(s0, s1, weights[kind], edge_weights[kind])
      reduction_prev = reduction
    out = jnp.mean(s1, axis=(1, 2))
    return nn.Dense(
      self.num_classes,
      kernel_init=ops.torch_kernel_init,
      bias_init=ops.torch_bias_init(out.shape[-1]),
      name="classifier",
    )(out)
