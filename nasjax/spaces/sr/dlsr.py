"""The DLSR super-resolution search space: a searched distillation cell and searched cell inputs.

Huang et al., "Lightweight Image Super-Resolution with Hierarchical and
Differentiable Neural Architecture Search" (arXiv 2105.03939), search two
levels jointly. Sources: the paper's abstract and its public PyTorch code
(github.com/DawnHH/DLSR-PyTorch: ``models/rfdn_block_6_beta_search.py``,
``models/operations_hh.py``, ``models/beta1_para_loss.py``,
``search/RFDN6_para_loss.py``); the full paper text was not available.

Network (an RFDN trunk): a 3x3 ``stem`` conv; ``num_cells`` cells (48
channels and 6 cells by default, as in the code); the input of cells 1 and 2
is the previous output, the input of every later cell ``i`` is a 1x1 conv
(``input_i``, ``2C -> C``) with LeakyReLU(0.05) over the concatenation of two
earlier cells' outputs; a 1x1 ``aggregate`` conv with LeakyReLU over all cell
outputs; a 3x3 ``lr_conv`` plus the stem's output; a 3x3 conv to ``3 s^2``
channels and a pixel shuffle (``upsample``). Every conv of the trunk and
cells has a bias; the candidates have none.

Cell (an RFDB, information distillation): three steps, each a 1x1 conv to
``C // 2`` distilled channels (LeakyReLU) and a searched op with the residual
``h <- lrelu(op(h) + h)``; a 3x3 conv to ``C // 2`` (LeakyReLU); the four
distilled parts are fused by a 1x1 conv and an enhanced spatial attention
(ESA) block. The three searched positions are the ``'cell'`` alpha rows,
shared by every cell (one alpha of shape ``(3, O)`` in the code).

Candidates (:data:`DLSR_OPS`, the code's ``PRIMITIVES``): ``conv_kxk``
(bias-free dense conv), ``sep_conv_kxk`` (DARTS' form: twice ReLU, depthwise
kxk, pointwise 1x1), ``dil_conv_kxk`` (ReLU, depthwise kxk with dilation 2,
pointwise). Also known: ``skip_connect`` (identity, in the code's op table but
not searched there) and ``<op>_bn``, the op followed by an affine
:class:`nasjax.spaces.ops.BatchNorm` (the code's ops have no BN).

Network level: the code keeps, for cell ``i >= 3``, one softmax over the
outputs of cells ``1..i-1`` and derives the two largest. Here, so that every
alpha row is one argmax choice, cell ``i`` has two rows (input slots 0 and 1
of ``input_i``) whose columns are cells ``1..num_cells-1``
(:func:`network_candidates`); the supernet's slot input is the weighted sum
of the columns' outputs over the cells that exist before ``i`` (weights
renormalised over them: for a softmax that is the softmax over those cells;
an all-zero row gives zero). Derivation takes the argmax over those cells,
except that slot 1 skips the cell slot 0 took (the code's two inputs are
always distinct). The supernet's ``input_i`` has the discrete network's shape.

Gaps and assumptions: the two-slot relaxation replaces the code's single
softmax and weighted concatenation of all earlier outputs (same derived
family, different relaxation); the code's upsampler is fixed at x2, here it
is ``scale``; ESA's 7x7 stride-3 max pool would fail on maps under 7 pixels,
here it pads the far side with ``-inf`` (one output, the global max) so tiny
test images work; FLOPs costs (:func:`op_costs`) count each searched op once
per cell (alpha is shared); the network level costs 0 (every derived cell
reads two inputs); ``partial_channels`` (PC-DARTS, off by default) is not
in the paper. In the public search the alpha loss is L1(train) + L1(val) +
the alpha-weighted parameter share of the ops (computed there from a
detached copy, so it passes no gradient), with alpha updates after 20 epochs
(Adam 3e-4, betas (0.5, 0.999)); weights use Adam 5e-4.

The candidates, alpha layout, genotype, derivation and costs are in
:mod:`nasjax.spaces.sr.dlsr_encoding`.

Example:
  >>> from nasjax.spaces.sr.dlsr_encoding import DLSRGenotype, derive_genotype, genotype_weights
  >>> g = DLSRGenotype.from_string('ops=sep_conv_5x5,conv_1x1,sep_conv_3x3;inputs=2+1,3+2')
  >>> g.num_cells, derive_genotype(genotype_weights(g)) == g
  (4, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.errors import ConfigError
from nasjax.spaces import ops
from nasjax.spaces.sr.dlsr_encoding import (
  DEFAULT_FEATURES,
  DEFAULT_NUM_CELLS,
  DLSR_OPS,
  LRELU_SLOPE,
  NUM_POSITIONS,
  DLSRGenotype,
  alpha_shapes,
  parse_op,
)
from nasjax.spaces.sr.ops import ConvBias, pixel_shuffle

Array = jax.Array


def _lrelu(x: Array) -> Array:
  return nn.leaky_relu(x, LRELU_SLOPE)


class DLSROp(nn.Module):
  """One candidate (see the module docstring), ``C -> C`` channels, called as ``op(x, train)``."""

  op: str
  track_running_stats: bool = False

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    kind, k, bn = parse_op(self.op)
    c = x.shape[-1]
    if kind == "skip_connect":
      return x
    if kind == "conv":
      y = ops.Conv2D(c, k, padding=k // 2, name="conv")(x)
    else:
      dilation, stacks = (2, 1) if kind == "dil_conv" else (1, 2)
      y = x
      for i in range(1, stacks + 1):
        pad = dilation * (k // 2)
        y = ops.Conv2D(c, k, 1, pad, dilation, groups=c, name=f"depthwise_{i}")(nn.relu(y))
        y = ops.Conv2D(c, 1, name=f"pointwise_{i}")(y)
    if bn:
      y = ops.BatchNorm(True, self.track_running_stats, name="bn")(y, train)
    return y


class MixedDLSROp(nn.Module):
  """``sum_o row[o] * op_o(x)``, one submodule per op named after it; ``row=None`` adds them."""

  op_names: tuple[str, ...]
  track_running_stats: bool = False

  @nn.compact
  def __call__(self, x: Array, row: Array | None, train: bool) -> Array:
    out = jnp.zeros_like(x)
    for i, name in enumerate(self.op_names):
      y = DLSROp(name, self.track_running_stats, name=name)(x, train)
      out = out + (y if row is None else row[i].astype(y.dtype) * y)
    return out


def max_pool_7x7_stride_3(x: Array) -> Array:
  """ESA's 7x7 max pool of stride 3; maps under 7 pixels are padded with ``-inf`` at the end."""
  pads = ((0, 0), (0, max(0, 7 - x.shape[1])), (0, max(0, 7 - x.shape[2])), (0, 0))
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 7, 7, 1), (1, 3, 3, 1), pads)


def resize_bilinear(x: Array, h: int, w: int) -> Array:
  """PyTorch's bilinear ``interpolate(..., align_corners=False)`` of an NHWC map to ``h x w``.

  Example:
    >>> resize_bilinear(jnp.array([1.0, 2.0]).reshape(1, 1, 2, 1), 1, 4)[0, 0, :, 0].tolist()
    [1.0, 1.25, 1.75, 2.0]
  """
  for axis, size in ((1, h), (2, w)):
    n = x.shape[axis]
    src = np.maximum((np.arange(size) + 0.5) * (n / size) - 0.5, 0.0)
    lo = np.floor(src).astype(np.int32)
    hi, frac = np.minimum(lo + 1, n - 1), (src - lo).astype(np.float32)
    shape = [1, 1, 1, 1]
    shape[axis] = size
    frac = jnp.asarray(frac.reshape(shape), x.dtype)
    x = jnp.take(x, lo, axis=axis) * (1 - frac) + jnp.take(x, hi, axis=axis) * frac
  return x


class ESA(nn.Module):
  """RFDN's enhanced spatial attention: ``x * sigmoid(mask(x))`` with ``C // 4`` inner channels."""

  @nn.compact
  def __call__(self, x: Array) -> Array:
    _, h, w, c = x.shape
    f = c // 4
    c1 = ConvBias(f, 1, name="conv1")(x)
    pooled = max_pool_7x7_stride_3(ConvBias(f, 3, stride=2, padding=0, name="conv2")(c1))
    v = nn.relu(ConvBias(f, 3, name="conv_max")(pooled))
    v = ConvBias(f, 3, name="conv3_2")(nn.relu(ConvBias(f, 3, name="conv3")(v)))
    v = resize_bilinear(v, h, w)
    mask = ConvBias(c, 1, name="conv4")(v + ConvBias(f, 1, name="conv_f")(c1))
    return x * nn.sigmoid(mask)


class DLSRCell(nn.Module):
  """The distillation cell; ``position_ops[p]`` are the candidates at searched position ``p``.

  With ``partial_channels`` K > 1 (PC-DARTS) a mixed op sees the first ``C // K``
  channels; the rest bypass it and the two parts are channel-shuffled.
  """

  position_ops: tuple[tuple[str, ...], ...]
  track_running_stats: bool = False
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, weights: Array | None, train: bool) -> Array:
    c = x.shape[-1]
    distilled, h = [], x
    for p, names in enumerate(self.position_ops):
      distilled.append(_lrelu(ConvBias(c // 2, 1, name=f"distill_{p + 1}")(h)))
      mixed = MixedDLSROp(names, self.track_running_stats, name=f"mixed_{p + 1}")
      k, row = self.partial_channels, None if weights is None else weights[p]
      if k > 1:
        y = ops.partial_channel_merge(mixed(h[..., : c // k], row, train), h[..., c // k :], k)
      else:
        y = mixed(h, row, train)
      h = _lrelu(y + h)
    distilled.append(_lrelu(ConvBias(c // 2, 3, name="conv_4")(h)))
    return ESA(name="esa")(ConvBias(c, 1, name="fuse")(jnp.concatenate(distilled, axis=-1)))


def _trunk(
  x: Array,
  module: Any,
  position_ops: tuple[tuple[str, ...], ...],
  cell_weights: Array | None,
  cell_inputs: Callable[[int, list[Array]], tuple[Array, Array]],
  train: bool,
) -> Array:
  """The network around the cells (called inside a compact ``__call__`` of ``module``)."""
  c, s = module.features, module.scale
  if c < 4:
    raise ConfigError(f"DLSR needs features >= 4 (ESA uses features // 4), got {c}")
  if s not in (2, 3, 4):
    raise ConfigError(f"DLSR upscales by 2, 3 or 4, got scale={s!r}")
  stem = ConvBias(c, 3, name="stem")(x)
  outs: list[Array] = []
  for i in range(1, module.num_cells + 1):
    h = stem if i == 1 else outs[-1]
    if i >= 3:
      pair = jnp.concatenate(cell_inputs(i, outs), axis=-1)
      h = _lrelu(ConvBias(c, 1, name=f"input_{i}")(pair))
    k = getattr(module, "partial_channels", 1)
    cell = DLSRCell(position_ops, module.track_running_stats, k, name=f"cell_{i}")
    outs.append(cell(h, cell_weights, train))
  h = _lrelu(ConvBias(c, 1, name="aggregate")(jnp.concatenate(outs, axis=-1)))
  h = ConvBias(c, 3, name="lr_conv")(h) + stem
  return pixel_shuffle(ConvBias(3 * s * s, 3, name="upsample")(h), s)


class DLSRSupernet(nn.Module):
  """The DLSR supernet, ``apply(variables, lr, op_weights, train=...)`` -> HR ``(N, s*h, s*w, 3)``.

  ``op_weights`` has the shapes of :func:`alpha_shapes`; it holds no alpha itself.

  Attributes:
    scale: the upscaling factor (2, 3 or 4).
    features: channels of the trunk and cells.
    num_cells: cells (>= 3).
    op_names: the candidates of the 3 searched positions.
    track_running_stats: the BN of ``_bn`` candidates keeps running statistics.
    partial_channels: PC-DARTS' K (``features`` must be divisible by it); 1 is off.
  """

  scale: int
  features: int = DEFAULT_FEATURES
  num_cells: int = DEFAULT_NUM_CELLS
  op_names: tuple[str, ...] = DLSR_OPS
  track_running_stats: bool = False
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, op_weights: dict[str, Array], train: bool) -> Array:
    for o in self.op_names:
      parse_op(o)
    if self.features % self.partial_channels:
      raise ConfigError(
        f"features ({self.features}) must be divisible by partial_channels "
        f"({self.partial_channels})"
      )
    expected = alpha_shapes(self.num_cells, self.op_names)
    got = {k: tuple(jnp.shape(v)) for k, v in op_weights.items()}
    if got != expected:
      raise ValueError(f"DLSR mixing weights must have shapes {expected}, got {got}")
    net = op_weights["network"]

    def inputs(i: int, outs: list[Array]) -> tuple[Array, Array]:
      mixes = []
      for slot in (0, 1):
        row = net[2 * (i - 3) + slot, : i - 1]
        total = jnp.sum(row)
        row = jnp.where(total > 0, row / jnp.where(total > 0, total, 1.0), 0.0)
        mixes.append(sum(row[j].astype(o.dtype) * o for j, o in enumerate(outs)))
      return mixes[0], mixes[1]

    position_ops = (tuple(self.op_names),) * NUM_POSITIONS
    return _trunk(x, self, position_ops, op_weights["cell"], inputs, train)


class DLSRNetwork(nn.Module):
  """The discrete network of a genotype, ``apply(variables, lr, train=...)``.

  Its parameter paths are the supernet's (a subset), so supernet weights carry over.

  Attributes:
    genotype: the architecture (its ``num_cells`` sets the depth).
    scale: the upscaling factor (2, 3 or 4).
    features: channels of the trunk and cells.
    track_running_stats: the BN of ``_bn`` ops keeps running statistics.
  """

  genotype: DLSRGenotype
  scale: int
  features: int = DEFAULT_FEATURES
  track_running_stats: bool = True

  @property
  def num_cells(self) -> int:
    return self.genotype.num_cells

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    position_ops = tuple((o,) for o in self.genotype.ops)
    pairs = self.genotype.inputs

    def inputs(i: int, outs: list[Array]) -> tuple[Array, Array]:
      a, b = pairs[i - 3]
      return outs[a - 1], outs[b - 1]

    return _trunk(x, self, position_ops, None, inputs, train)
