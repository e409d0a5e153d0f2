"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020).

A cell is a DAG of 4 nodes and 6 edges; node ``i`` sums one op applied to
every earlier node ``j < i``. Edges are ordered as in the benchmark's
architecture strings: ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``. The candidate
ops are ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``.

The macro network (the benchmark's ``TinyNetwork``): a 3x3 stem with C
channels, three stages of N cells with C, 2C and 4C channels separated by
ResNet basic blocks of stride 2, then BN-ReLU, global pooling and a linear
classifier.

* :class:`NB201Supernet` is the search network. Its mixing weights are an
  explicit argument, ``op_weights = {'cell': (6, num_ops)}``, produced from
  alpha by a relaxation (:mod:`nasjax.core.relax`); it has no alpha of its own.
  Cell ops use batch norm without affine parameters; whether they keep
  running statistics is the ``track_running_stats`` field. The stem,
  reduction blocks and classifier use affine, tracked BN as in the benchmark.
  ``conv_bias`` gives the cells' convolutions a bias, as AutoDL's search
  cells have (``bias = not affine``): it cancels exactly under batch
  statistics and shifts the running means a tracking BN records. The
  convolutions outside the cells never have one.
* Partial channels and edge normalisation (PC-DARTS): with
  ``partial_channels=K > 1`` or ``edge_normalization=True`` the supernet uses
  :class:`NB201PartialSearchCell`, whose edges mix ops built with C/K
  channels on the first C/K input channels, concatenate the bypassed rest
  and channel-shuffle with K groups; edge logits passed as
  ``edge_logits={'cell': (6,)}`` weight each node's incoming edges by their
  softmax.
* The discrete network of a genotype is :mod:`nasjax.spaces.nb201.network`'s.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.nb201 import supernet as nb201
  >>> net = nb201.NB201Supernet(channels=4, cells_per_stage=1)
  >>> w = {'cell': jnp.full((6, 5), 0.2)}
  >>> variables = net.init(jax.random.key(0), jnp.zeros((2, 32, 32, 3)), w, train=True)
  >>> logits, _ = net.apply(variables, jnp.zeros((2, 32, 32, 3)), w, train=True,
  ...                       mutable=['batch_stats'])
  >>> logits.shape
  (2, 10)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces import ops
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.nb201.genotype import NB201_NODES, NB201_OPS, NB201Genotype

Array = jax.Array

#: Edges ``(i, j)`` (target node, source node) in the benchmark's order.
EDGES: tuple[tuple[int, int], ...] = tuple(
  (i, j) for i in range(1, NB201_NODES + 1) for j in range(i)
)
NUM_EDGES = len(EDGES)


def apply_op(
  name: str,
  x: Array,
  train: bool,
  channels: int,
  affine: bool,
  track_running_stats: bool,
  module_name: str,
  conv_bias: bool = False,
) -> Array | None:
  """Applies one NB201 op; returns None for ``none`` (a zero contribution)."""
  if name == "none":
    return None
  if name == "skip_connect":
    return x
  if name == "avg_pool_3x3":
    return ops.avg_pool_3x3(x)
  if name in ("nor_conv_1x1", "nor_conv_3x3"):
    k = 1 if name == "nor_conv_1x1" else 3
    return ops.ReLUConvBN(
      channels,
      k,
      1,
      k // 2,
      affine=affine,
      track_running_stats=track_running_stats,
      bias=conv_bias,
      name=module_name,
    )(x, train)
  raise GenotypeError(f"unknown NB201 op {name!r}; expected one of {list(NB201_OPS)}")


def _split_weights(weights: Array | tuple[Array, Array | None]) -> tuple[Array, Array | None]:
  return weights if isinstance(weights, tuple) else (weights, None)


class NB201SearchCell(nn.Module):
  """A cell whose every edge is a weighted sum over the candidate ops.

  Called as ``cell(x, weights) -> (y, None)`` (the scan-friendly form), with
  ``weights`` of shape ``(6, len(op_names))``, or a pair ``(weights,
  edge_weights)`` where ``edge_weights`` (shape ``(6,)``, or None) scales
  each edge's output.

  The ops of all edges leaving one node are computed together: for source
  node ``j`` with outgoing edges to nodes ``j+1..3``, each convolution op is
  one ReLU-Conv-BN with ``(3 - j) * C`` output channels whose channel block
  ``k`` is the op on edge ``(j + 1 + k) <- j``. Batch norm is per channel, so
  this is exactly the per-edge supernet, with half the kernels to compile
  and larger convolutions for the accelerator. Parameters are named
  ``from_{j}_{op}``; :func:`edge_kernel` and :func:`edge_bias` slice one
  edge's kernel and (with ``conv_bias``) bias out: the bias has the same
  fan-out layout as the kernel's output channels.
  """

  channels: int
  op_names: tuple[str, ...] = NB201_OPS
  track_running_stats: bool = False
  train: bool = True
  conv_bias: bool = False

  @nn.compact
  def __call__(self, x: Array, weights: Array | tuple[Array, Array | None]) -> tuple[Array, None]:
    weights, edge_weights = _split_weights(weights)
    nodes = [x]
    incoming: dict[int, list[Array]] = {i: [] for i in range(1, NB201_NODES + 1)}
    for j in range(NB201_NODES):
      targets = list(range(j + 1, NB201_NODES + 1))
      fan_out = len(targets)
      outputs = []
      for name in self.op_names:
        out = apply_op(
          name,
          nodes[j],
          self.train,
          self.channels * fan_out,
          False,
          self.track_running_stats,
          f"from_{j}_{name}",
          self.conv_bias,
        )
        if out is None:
          continue
        is_conv = name.startswith("nor_conv")
        parts = jnp.split(out, fan_out, axis=-1) if is_conv else [out] * fan_out
        outputs.append((self.op_names.index(name), parts))
      for k, i in enumerate(targets):
        e = EDGES.index((i, j))
        total = sum(
          (weights[e, o].astype(x.dtype) * parts[k] for o, parts in outputs), jnp.zeros_like(x)
        )
        if edge_weights is not None:
          total = edge_weights[e].astype(x.dtype) * total
        incoming[i].append(total)
      nodes.append(sum(incoming[j + 1]))
    return nodes[-1], None


class NB201PartialSearchCell(nn.Module):
  """A search cell with PC-DARTS' partial channels, computed edge by edge.

  Called like :class:`NB201SearchCell`. On edge ``i <- j`` the candidate ops,
  built with ``C / partial_channels`` channels, see the first
  ``C / partial_channels`` channels of node ``j``; their weighted sum is
  concatenated with the remaining channels and channel-shuffled with
  ``partial_channels`` groups (:func:`nasjax.spaces.ops.partial_channel_merge`).
  The edge output is scaled by its edge weight when one is given. Parameters
  are named ``edge_{i}_{j}_{op}`` (as in :class:`nasjax.spaces.nb201.network.NB201Cell`).
  """

  channels: int
  op_names: tuple[str, ...] = NB201_OPS
  partial_channels: int = 1
  track_running_stats: bool = False
  train: bool = True
  conv_bias: bool = False

  @nn.compact
  def __call__(self, x: Array, weights: Array | tuple[Array, Array | None]) -> tuple[Array, None]:
    weights, edge_weights = _split_weights(weights)
    k = self.partial_channels
    c = self.channels // k
    nodes = [x]
    for i in range(1, NB201_NODES + 1):
      node = jnp.zeros_like(x)
      for j in range(i):
        e = EDGES.index((i, j))
        inputs = nodes[j][..., :c]
        mixed = jnp.zeros_like(inputs)
        for o, name in enumerate(self.op_names):
          out = apply_op(
            name,
            inputs,
            self.train,
            c,
            False,
            self.track_running_stats,
            f"edge_{i}_{j}_{name}",
            self.conv_bias,
          )
          if out is not None:
            mixed = mixed + weights[e, o].astype(x.dtype) * out
        if k > 1:
          mixed = ops.partial_channel_merge(mixed, nodes[j][..., c:], k)
        if edge_weights is not None:
          mixed = edge_weights[e].astype(x.dtype) * mixed
        node = node + mixed
      nodes.append(node)
    return nodes[-1], None


def edge_block(array: Array, target: int, source: int) -> Array:
  """The channel block of edge ``target <- source`` in a fan-out tensor of node ``source``."""
  c = array.shape[-1] // (NB201_NODES - source)
  k = target - source - 1
  return array[..., k * c : (k + 1) * c]


def edge_kernel(cell_params: Mapping[str, Any], op: str, target: int, source: int) -> Array:
  """The conv kernel of op ``op`` on edge ``target <- source`` of a search cell.

  Args:
    cell_params: the parameters of one :class:`NB201SearchCell` (of a scanned
      stage, the kernels carry a leading cell axis, which is kept).
    op: ``nor_conv_1x1`` or ``nor_conv_3x3``.
    target: the edge's head node, ``0 <= source < target <= 3``.
    source: the edge's tail node.
  """
  return edge_block(cell_params[f"from_{source}_{op}"]["Conv2D_0"]["kernel"], target, source)


def edge_bias(cell_params: Mapping[str, Any], op: str, target: int, source: int) -> Array | None:
  """The conv bias of op ``op`` on edge ``target <- source``; None for a cell without biases.

  Arguments as :func:`edge_kernel`.
  """
  bias = cell_params[f"from_{source}_{op}"]["Conv2D_0"].get("bias")
  return None if bias is None else edge_block(bias, target, source)


def _stack_cells(cell_cls: type[nn.Module], length: int, scan: bool, name: str, **kwargs: Any):
  """Returns a callable running ``length`` copies of a cell in sequence.

  With ``scan=True`` the copies are one ``nn.scan`` over stacked parameters,
  which compiles once instead of ``length`` times (much faster compilation,
  same numerics); parameters then carry a leading axis of size ``length``.
  """
  if scan:
    stacked = nn.scan(
      cell_cls,
      variable_axes={"params": 0, "batch_stats": 0},
      split_rngs={"params": True},
      in_axes=nn.broadcast,
      length=length,
    )(name=name, **kwargs)
    return lambda x, w: stacked(x, w)[0]
  cells = [cell_cls(name=f"{name}_{k}", **kwargs) for k in range(length)]

  def run(x: Array, w: Any) -> Array:
    for cell in cells:
      x = cell(x, w)[0]
    return x

  return run


def macro(
  module: nn.Module,
  x: Array,
  train: bool,
  cell_cls: type[nn.Module],
  cell_input: Any,
  **cell_kwargs: Any,
) -> Array:
  """NAS-Bench-201's macro skeleton, built inside ``module``'s compact call.

  Stem, three stages of ``module.cells_per_stage`` cells (C, 2C, 4C channels)
  with a ResNet reduction block between stages, then the classifier. Cells are
  ``cell_cls(channels=..., train=..., **cell_kwargs)`` called as
  ``cell(x, cell_input)``.
  """
  x = ops.Stem(module.channels, name="stem")(x, train)
  for stage in range(3):
    c = module.channels * 2**stage
    if stage:
      x = ops.ResNetBasicBlock(c, name=f"reduce_{stage}")(x, train)
    run = _stack_cells(
      cell_cls,
      module.cells_per_stage,
      module.scan_cells,
      f"stage_{stage}",
      channels=c,
      train=train,
      **cell_kwargs,
    )
    x = run(x, cell_input)
  return ops.Classifier(module.num_classes, name="head")(x, train)


class NB201Supernet(nn.Module):
  """The NAS-Bench-201 search network (the benchmark's DARTS supernet).

  Attributes:
    channels: C, the channels of the first stage.
    cells_per_stage: N, cells per stage (5 in the benchmark).
    num_classes: classifier outputs.
    op_names: candidate ops, a subset of :data:`NB201_OPS` in that order.
    track_running_stats: whether the cell BNs keep running statistics (and use
      them when ``train=False``) or always use batch statistics.
    scan_cells: compile the N cells of a stage as one ``nn.scan``.
    conv_bias: the cells' convolutions have a bias (AutoDL's search cells).
    partial_channels: PC-DARTS' K (1 = off).
    edge_normalization: build the per-edge cells that PC-DARTS' edge
      normalisation runs on (:class:`NB201PartialSearchCell`); the edge
      logits themselves are the ``edge_logits`` argument.

  With ``partial_channels == 1`` and no edge normalisation the cells are
  :class:`NB201SearchCell` (ops of edges sharing a source computed
  together); otherwise :class:`NB201PartialSearchCell`.
  """

  channels: int = 16
  cells_per_stage: int = 5
  num_classes: int = 10
  op_names: tuple[str, ...] = NB201_OPS
  track_running_stats: bool = False
  scan_cells: bool = True
  partial_channels: int = 1
  edge_normalization: bool = False
  conv_bias: bool = False

  @nn.compact
  def __call__(
    self,
    x: Array,
    op_weights: Mapping[str, Array],
    *,
    train: bool,
    edge_logits: Mapping[str, Array] | None = None,
  ) -> Array:
    weights = op_weights["cell"]
    if weights.shape != (NUM_EDGES, len(self.op_names)):
      raise ValueError(
        f"op_weights['cell'] must have shape {(NUM_EDGES, len(self.op_names))}, got {weights.shape}"
      )
    edge_weights = ops.node_softmax(edge_logits["cell"], (1, 2, 3)) if edge_logits else None
    kwargs = dict(
      op_names=self.op_names,
      track_running_stats=self.track_running_stats,
      conv_bias=self.conv_bias,
    )
    if self.partial_channels == 1 and not self.edge_normalization:
      return macro(self, x, train, NB201SearchCell, (weights, edge_weights), **kwargs)
    return macro(
      self,
      x,
      train,
      NB201PartialSearchCell,
      (weights, edge_weights),
      partial_channels=self.partial_channels,
      **kwargs,
    )


def alpha_shapes(op_names: Sequence[str] = NB201_OPS) -> dict[str, tuple[int, ...]]:
  """Shapes of the architecture logits: one row of op logits per edge."""
  return {"cell": (NUM_EDGES, len(op_names))}


def derive_genotype(
  alphas: Mapping[str, Array], op_names: Sequence[str] = NB201_OPS, exclude_none: bool = True
) -> NB201Genotype:
  """The argmax genotype of ``alphas``: per edge, the op with the largest logit.

  Args:
    alphas: ``{'cell': (6, len(op_names))}`` logits (or probabilities; only
      their per-edge order matters).
    op_names: the candidate ops the columns correspond to.
    exclude_none: never pick ``none`` (DARTS' discretisation). With ``False``
      the plain argmax is taken, as NAS-Bench-201's own search code does.
  """
  a = np.asarray(jax.device_get(alphas["cell"]), dtype=np.float64)
  if a.shape != (NUM_EDGES, len(op_names)):
    raise ValueError(f"alphas['cell'] must have shape {(NUM_EDGES, len(op_names))}, got {a.shape}")
  if exclude_none and "none" in op_names:
    if len(op_names) == 1:
      raise ValueError("cannot exclude 'none' when it is the only candidate op")
    a = a.copy()
    a[:, list(op_names).index("none")] = -np.inf
  return NB201Genotype.from_edges([op_names[k] for k in np.argmax(a, axis=-1)])


def genotype_weights(
  genotype: NB201Genotype, op_names: Sequence[str] = NB201_OPS
) -> dict[str, np.ndarray]:
  """The one-hot mixing weights of a genotype: ``{'cell': (6, len(op_names))}`` float32.

  Row ``e`` has a 1 in the column of edge ``e``'s op and 0 elsewhere; the
  supernet applied with these weights is the genotype's network with the
  supernet's (inherited) weights. :func:`derive_genotype` maps them back to
  ``genotype`` (unless it uses ``none``, which derivation excludes).

  Raises:
    GenotypeError: if the genotype uses an op that is not among ``op_names``.
  """
  op_names = tuple(op_names)
  weights = np.zeros((NUM_EDGES, len(op_names)), np.float32)
  for e, op in enumerate(genotype.edges):
    if op not in op_names:
      raise GenotypeError(
        f"genotype op {op!r} on edge {EDGES[e][0]}<-{EDGES[e][1]} is not a candidate of this "
        f"space ({list(op_names)}); add it to config.space.ops"
      )
    weights[e, op_names.index(op)] = 1.0
  return {"cell": weights}
