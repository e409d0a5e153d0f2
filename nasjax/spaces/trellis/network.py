"""The Flax networks of the trellis space: the Auto-DeepLab supernet and a decoded network.

Layout and weights are described in :mod:`nasjax.spaces.trellis.layout`;
this module computes them (Auto-DeepLab, arXiv 1901.02985, short
connections only).

* Stem (``stem``): conv3x3 stride 2 (``stem_channels``), conv3x3
  (``stem_channels``), conv3x3 stride 2 (``2 * stem_channels``), each followed
  by an affine BN with running statistics and a ReLU (Auto-DeepLab's
  ``stem0..stem2``). Its output is node ``(-1, 0)`` at 1/4 of the input size;
  level ``s`` has that size halved ``s`` times, rounding up.
* Node ``(l, s)`` has ``blocks * F * 2**s`` channels (``F`` = ``filter_multiplier``)
  and is ``sum_t w[(l, t, s)] * Cell_{l,t,s}(s0 = H(l-2, s), s1 = H(l-1, t))``
  over the transitions into it. Each transition has its own cell, named
  ``cell_{l}_{t}to{s}`` (layer, source level, target level), with ``C = F * 2**s``:
  ``preprocess1`` resamples ``s1`` to ``C`` channels at level ``s``
  (down: :class:`~nasjax.spaces.ops.FactorizedReduce`, whose stride-2 halves equal
  padding odd maps to even first; same: ReLU-conv1x1-BN; up: bilinear resize
  to the target size, then ReLU-conv1x1-BN); ``preprocess0`` is ReLU-conv1x1-BN
  of ``s0``. Where node ``(l - 2, s)`` does not exist (or was pruned) the cell
  has no ``s0`` and its edges from input 0 are not built. ``blocks`` blocks
  of DARTS mixed edges (``edge_{e}``, :func:`~nasjax.spaces.darts.supernet.cell_edges`
  order; :class:`~nasjax.spaces.darts.supernet.DartsMixedEdge`, BN without affine
  parameters) follow; the output concatenates the blocks.
* Head (``aspp_{s}``, for every level of the last layer): DeepLab v3's ASPP
  (1x1 conv, 3x3 conv with dilation ``max(1, aspp_rate // 2**s)``, image
  pooling, ``aspp_channels`` each with affine BN and ReLU; concatenated; 1x1
  conv-BN-ReLU; 1x1 conv with bias to the classes), resized bilinearly to the
  input size; the heads are summed. Head ``s`` is multiplied by
  ``(sum of the weights into (L-1, s)) > 0``: 1 under any relaxation, 0 for
  last-layer nodes off a decoded path.

:class:`TrellisNetwork` is the network of a genotype: one cell per layer
on the path, with the genotype's edges and ops only, and the head of the
last level. Its parameter paths are the supernet's (a subset; see
:func:`nasjax.spaces.trellis.space.network_params`), and with the search's BN
settings it equals the supernet applied with
:func:`nasjax.spaces.trellis.space.genotype_weights`.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.trellis import network as tn
  >>> from nasjax.spaces.trellis.genotype import TrellisGenotype
  >>> net = tn.TrellisNetwork(TrellisGenotype.from_string(
  ...     'path=0,1;cell=skip_connect~0,sep_conv_3x3~1'), num_classes=3, filter_multiplier=2,
  ...     stem_channels=4, aspp_channels=4, aspp_rate=2)
  >>> x = jnp.zeros((1, 16, 16, 3))
  >>> out, v = jax.eval_shape(lambda: net.init_with_output(jax.random.key(0), x, train=False))
  >>> out.shape, sorted(v['params'])
  ((1, 16, 16, 3), ['aspp_1', 'cell_0_0to0', 'cell_1_0to1', 'stem'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.spaces import ops
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.sr.dlsr import resize_bilinear
from nasjax.spaces.sr.ops import ConvBias
from nasjax.spaces.trellis import layout as layout
from nasjax.spaces.trellis.genotype import TrellisGenotype

Array = jax.Array
EdgeOps = tuple[tuple[str, ...], ...]


def cell_name(layer: int, t: int, s: int) -> str:
  """The module name of the cell of transition ``(l, t, s)``, e.g. ``cell_3_1to2``."""
  return f"cell_{layer}_{t}to{s}"


def level_sizes(stem_size: tuple[int, int], levels: int) -> tuple[tuple[int, int], ...]:
  """The spatial size of every level: the stem's, halved ``s`` times rounding up.

  Example:
    >>> level_sizes((90, 120), 4)
    ((90, 120), (45, 60), (23, 30), (12, 15))
  """
  sizes = [tuple(stem_size)]
  for _ in range(levels - 1):
    sizes.append(tuple(math.ceil(n / 2) for n in sizes[-1]))
  return tuple(sizes)


def genotype_edge_ops(genotype: TrellisGenotype) -> EdgeOps:
  """The op of each cell edge of a genotype, ``(op,)`` or ``()`` for an edge it drops."""
  chosen = {
    (b, j): op for b in range(genotype.blocks) for op, j in genotype.cell[2 * b : 2 * b + 2]
  }
  edges = darts.cell_edges(genotype.blocks)
  return tuple((chosen[e],) if e in chosen else () for e in edges)


class TrellisStem(nn.Module):
  """Auto-DeepLab's stem: three conv3x3-BN-ReLU, strides 2, 1, 2 (output ``2 * channels``)."""

  channels: int = 64

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    c = self.channels
    for i, (features, stride) in enumerate(((c, 2), (c, 1), (2 * c, 2)), start=1):
      x = ops.Conv2D(features, 3, stride, 1, name=f"conv_{i}")(x)
      x = nn.relu(ops.BatchNorm(True, True, name=f"bn_{i}")(x, train))
    return x


class ASPP(nn.Module):
  """DeepLab v3's atrous spatial pyramid pooling head, to ``num_classes`` logits."""

  channels: int
  rate: int
  num_classes: int

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    def conv_bn_relu(y: Array, k: int, dilation: int, name: str) -> Array:
      y = ops.Conv2D(self.channels, k, 1, dilation * (k // 2), dilation, name=f"conv_{name}")(y)
      return nn.relu(ops.BatchNorm(True, True, name=f"bn_{name}")(y, train))

    pooled = conv_bn_relu(jnp.mean(x, axis=(1, 2), keepdims=True), 1, 1, "pool")
    branches = [
      conv_bn_relu(x, 1, 1, "1x1"),
      conv_bn_relu(x, 3, self.rate, "atrous"),
      jnp.broadcast_to(pooled, (*x.shape[:3], self.channels)),
    ]
    y = conv_bn_relu(jnp.concatenate(branches, axis=-1), 1, 1, "project")
    return ConvBias(self.num_classes, 1, name="classifier")(y)


class DiscreteEdge(nn.Module):
  """One fixed op on a cell edge, with the parameter paths of a mixed edge's op.

  As in :class:`~nasjax.spaces.darts.supernet.DartsMixedEdge`, a pool is followed
  by a BN without affine parameters (``{op}_bn``).
  """

  op: str
  channels: int
  affine: bool = False
  track_running_stats: bool = False
  train: bool = True

  @nn.compact
  def __call__(self, x: Array) -> Array:
    op, track = self.op, self.track_running_stats
    y = ops.DartsOp(op, self.channels, 1, self.affine, track, name=op)(x, self.train)
    if "pool" in op:
      y = ops.BatchNorm(False, track, name=f"{op}_bn")(y, self.train)
    return y


class TrellisCell(nn.Module):
  """A cell: resample ``s1`` to level ``s``, preprocess ``s0`` (if any), ``steps`` blocks.

  Called as ``cell(s0, s1, size, weights)``: ``s0`` None when the cell has
  none, ``size`` the target level's ``(h, w)``, ``weights`` the ``(E, O)``
  mixing weights (mixed edges), or None for fixed ops (``edge_ops[e]`` is
  then ``(op,)`` or ``()``). An edge whose ops are all ``none`` (or none at
  all) is not built; a block without a built edge is zero.

  Attributes:
    channels: C; the output has ``steps * C`` channels.
    move: ``'up'``, ``'same'`` or ``'down'``: how ``s1`` reaches the cell's level.
    edge_ops: the ops of every edge (columns of ``weights``).
    steps: the blocks.
    affine, track_running_stats: BN settings of the preprocessing and ops.
    train: BN mode.
  """

  channels: int
  move: str
  edge_ops: EdgeOps
  steps: int
  affine: bool = False
  track_running_stats: bool = False
  train: bool = True

  @nn.compact
  def __call__(
    self, s0: Array | None, s1: Array, size: tuple[int, int], weights: Array | None = None
  ) -> Array:
    c, train = self.channels, self.train
    bn = dict(affine=self.affine, track_running_stats=self.track_running_stats)
    if self.move == "down":
      s1 = ops.FactorizedReduce(c, **bn, name="preprocess1")(s1, train)
    else:
      if self.move == "up":
        s1 = resize_bilinear(s1, *size)
      s1 = ops.ReLUConvBN(c, 1, **bn, name="preprocess1")(s1, train)
    if tuple(s1.shape[1:3]) != tuple(size):
      raise ValueError(f"resampled input has size {s1.shape[1:3]}, expected {tuple(size)}")
    if s0 is not None:
      s0 = ops.ReLUConvBN(c, 1, **bn, name="preprocess0")(s0, train)
    states: list[Array | None] = [s0, s1]
    edges = darts.cell_edges(self.steps)
    for b in range(self.steps):
      total = None
      for j in range(b + 2):
        e = edges.index((b, j))
        names = self.edge_ops[e]
        if states[j] is None or all(name == "none" for name in names):
          continue
        if weights is None:
          (op,) = names
          y = DiscreteEdge(op, c, self.affine, self.track_running_stats, train, name=f"edge_{e}")(
            states[j]
          )
        else:
          edge = darts.DartsMixedEdge(
            names, c, 1, 1, self.track_running_stats, train, name=f"edge_{e}"
          )
          y = edge(states[j], weights[e])
        total = y if total is None else total + y
      states.append(jnp.zeros_like(s1) if total is None else total)
    return jnp.concatenate(states[2:], axis=-1)


def _heads(
  module: nn.Module,
  nodes: Mapping[int, Array],
  gates: Mapping[int, Array | None],
  out_size: tuple[int, int],
  train: bool,
) -> Array:
  """The sum of the last layer's ASPP heads, each gated and resized to ``out_size``."""
  logits = None
  for s, value in sorted(nodes.items()):
    rate = max(1, module.aspp_rate // 2**s)
    y = ASPP(module.aspp_channels, rate, module.num_classes, name=f"aspp_{s}")(value, train)
    if gates[s] is not None:
      y = gates[s].astype(y.dtype) * y
    y = resize_bilinear(y, *out_size)
    logits = y if logits is None else logits + y
  return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))  # float32 for bf16


class TrellisSupernet(nn.Module):
  """The Auto-DeepLab supernet, ``apply(variables, x, op_weights, train=...)`` -> logits.

  ``op_weights`` = ``{'cell': (E, O), 'network2': (n2, 2), 'network3': (n3, 3)}``
  (:func:`nasjax.spaces.trellis.space.alpha_shapes`); the output is ``(N, H, W,
  num_classes)`` float32 at the input's size. Defaults are Auto-DeepLab's
  search settings.

  Attributes:
    num_classes: the output classes.
    layers: L, the trellis' layers.
    blocks: B, the blocks of every cell.
    filter_multiplier: F; node ``(l, s)`` has ``B * F * 2**s`` channels.
    levels: the trellis' levels (downsample rates 4, 8, ...).
    stem_channels: the stem's output channels.
    aspp_channels: the channels of each level's ASPP head.
    aspp_rate: the ASPP dilation at level 0, halved per level.
    op_names: the candidates of every cell edge (``none`` is never computed).
    track_running_stats: whether the cell BNs keep running statistics.
    pruned_transitions: ``(l, t, s)`` transitions whose cells are not built
      (the stem is node ``(-1, 0)``: its transitions are ``(0, 0, 0)`` and
      ``(0, 0, 1)``). Nodes left without a transition are absent: no cell
      reads them, transitions out of them are pruned, their head is not built.
    pruned_ops: ``(edge, op)`` pairs not computed in any cell (their
      columns of ``op_weights['cell']`` are ignored).
  """

  num_classes: int = 19
  layers: int = 12
  blocks: int = 5
  filter_multiplier: int = 8
  levels: int = 4
  stem_channels: int = 64
  aspp_channels: int = 256
  aspp_rate: int = 24
  op_names: tuple[str, ...] = DARTS_OPS
  track_running_stats: bool = False
  pruned_transitions: tuple[tuple[int, int, int], ...] = ()
  pruned_ops: tuple[tuple[int, str], ...] = ()

  #: :func:`nasjax.infra.compilation.init_variables` runs ``init`` op by op: compiling
  #: it whole takes minutes on a CPU for this wide graph of small distinct ops.
  init_eagerly: ClassVar[bool] = True

  def cell_edge_ops(self) -> EdgeOps:
    """The ops of every edge, with pruned ops replaced by ``none`` (columns keep their place)."""
    pruned = {(int(e), str(op)) for e, op in self.pruned_ops}
    edges = range(len(darts.cell_edges(self.blocks)))
    return tuple(tuple("none" if (e, op) in pruned else op for op in self.op_names) for e in edges)

  def live(self) -> tuple[tuple[layout.Transition, ...], frozenset[layout.Node]]:
    """The live transitions and alive nodes (:func:`~nasjax.spaces.trellis.layout.live_layout`)."""
    pruned = frozenset(tuple(int(v) for v in tr) for tr in self.pruned_transitions)
    unknown = pruned - set(layout.transitions(self.layers, self.levels))
    if unknown:
      raise ValueError(f"pruned_transitions {sorted(unknown)} are not transitions of the trellis")
    return layout.live_layout(self.layers, self.levels, pruned)

  @nn.compact
  def __call__(self, x: Array, op_weights: Mapping[str, Array], *, train: bool) -> Array:
    num_edges = len(darts.cell_edges(self.blocks))
    expected = {
      "cell": (num_edges, len(self.op_names)),
      **layout.network_shapes(self.layers, self.levels),
    }
    got = {k: tuple(jnp.shape(v)) for k, v in op_weights.items()}
    if got != expected:
      raise ValueError(f"trellis mixing weights must have shapes {expected}, got {got}")
    live, alive = self.live()
    last = self.layers - 1
    if not any(node[0] == last for node in alive):
      raise ValueError("the pruned transitions leave no path from the stem to the last layer")
    index = layout.transition_index(self.layers, self.levels)
    edge_ops = self.cell_edge_ops()
    nodes: dict[layout.Node, Array] = {
      layout.STEM: TrellisStem(self.stem_channels, name="stem")(x, train)
    }
    sizes = level_sizes(nodes[layout.STEM].shape[1:3], self.levels)
    gates: dict[int, Array] = {}
    for layer, t, s in live:
      key, row, col = index[(layer, t, s)]
      w = op_weights[key][row, col]
      cell = TrellisCell(
        self.filter_multiplier * 2**s,
        layout.move_of(t, s),
        edge_ops,
        self.blocks,
        False,
        self.track_running_stats,
        train,
        name=cell_name(layer, t, s),
      )
      out = w.astype(x.dtype) * cell(
        nodes.get((layer - 2, s)), nodes[(layer - 1, t)], sizes[s], op_weights["cell"]
      )
      nodes[(layer, s)] = out if (layer, s) not in nodes else nodes[(layer, s)] + out
      if layer == last:
        gates[s] = w if s not in gates else gates[s] + w
    heads = {s: v for (layer, s), v in nodes.items() if layer == last}
    return _heads(self, heads, {s: g > 0 for s, g in gates.items()}, x.shape[1:3], train)


class TrellisNetwork(nn.Module):
  """The network of a genotype, ``apply(variables, x, train=...)`` -> logits ``(N, H, W, K)``.

  Cell ``l`` sits at level ``path[l]`` and reads the previous path node
  (the stem for ``l = 0``) as ``s1``, and the path node of layer ``l - 2``
  (the stem for ``l = 1``) as ``s0`` only if it is at the same level. The
  head is the ASPP of the last level. Module names are the supernet's.

  Attributes:
    genotype: the architecture (its path sets the depth, its cell the blocks).
    num_classes, filter_multiplier, stem_channels, aspp_channels, aspp_rate:
      as :class:`TrellisSupernet`.
    affine: cell BNs learn scale and bias (False as in the search; True to
      retrain from scratch). Pools are followed by a BN without affine
      parameters either way, as in the supernet.
    track_running_stats: cell BNs keep running statistics (False as in the
      search; True to retrain).
  """

  genotype: TrellisGenotype
  num_classes: int = 19
  filter_multiplier: int = 8
  stem_channels: int = 64
  aspp_channels: int = 256
  aspp_rate: int = 24
  affine: bool = False
  track_running_stats: bool = False

  init_eagerly: ClassVar[bool] = True

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    path = self.genotype.path
    edge_ops = genotype_edge_ops(self.genotype)
    stem = TrellisStem(self.stem_channels, name="stem")(x, train)
    sizes = level_sizes(stem.shape[1:3], max(path) + 1)
    values: dict[int, tuple[int, Array]] = {-1: (0, stem)}
    for layer, s in enumerate(path):
      t = path[layer - 1] if layer else 0
      s0 = values[layer - 2][1] if layer >= 1 and values[layer - 2][0] == s else None
      cell = TrellisCell(
        self.filter_multiplier * 2**s,
        layout.move_of(t, s),
        edge_ops,
        self.genotype.blocks,
        self.affine,
        self.track_running_stats,
        train,
        name=cell_name(layer, t, s),
      )
      values[layer] = (s, cell(s0, values[layer - 1][1], sizes[s]))
    level, value = values[len(path) - 1]
    return _heads(self, {level: value}, {level: None}, x.shape[1:3], train)
