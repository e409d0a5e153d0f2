"""Building blocks shared by the search spaces.

Every op takes and returns NHWC arrays. Initialisers follow PyTorch's defaults
(``kaiming_uniform(a=sqrt(5))`` for conv and dense kernels, a uniform bias of
bound ``1/sqrt(fan_in)``) so that a search started here behaves like the
PyTorch DARTS code bases researchers compare against.

Batch normalisation is nasjax's own :class:`BatchNorm` rather than
``flax.linen.BatchNorm``: search cells need BN *without* running statistics
(``track_running_stats=False`` in PyTorch), which Flax's module cannot express,
and the running variance is updated with the unbiased estimate as in PyTorch.
"""

from __future__ import annotations

import itertools
import math
import zlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.spaces.conv import conv2d

Array = jax.Array

#: PyTorch's default conv / linear kernel initialiser: U(+-1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
  """PyTorch's default bias initialiser, U(+-1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key: Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class BatchNorm(nn.Module):
  """Batch normalisation over the N, H, W axes of an NHWC tensor.

  Attributes:
    affine: learn a per-channel scale and bias (``False`` in search cells).
    track_running_stats: keep running mean / variance in the ``batch_stats``
      collection and use them when ``train=False``. When ``False`` the batch
      statistics are used in both modes and no state is kept.
    momentum: PyTorch convention: ``running = (1 - m) * running + m * batch``.
    epsilon: added to the variance.
  """

  affine: bool = True
  track_running_stats: bool = True
  momentum: float = 0.1
  epsilon: float = 1e-5

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    features = x.shape[-1]
    if self.track_running_stats:
      ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
      ra_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
    use_batch_stats = train or not self.track_running_stats
    if use_batch_stats:
      xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # f32 stats for bf16 inputs
      mean = jnp.mean(xf, axis=(0, 1, 2))
      var = jnp.mean(jnp.square(xf - mean), axis=(0, 1, 2))
      if train and self.track_running_stats and not self.is_initializing():
        n = x.shape[0] * x.shape[1] * x.shape[2]
        unbiased = var * (n / max(n - 1, 1))
        m = self.momentum
        dtype = ra_mean.value.dtype
        ra_mean.value = ((1.0 - m) * ra_mean.value + m * mean).astype(dtype)
        ra_var.value = ((1.0 - m) * ra_var.value + m * unbiased).astype(dtype)
    else:
      mean, var = ra_mean.value, ra_var.value
    y = (x - mean.astype(x.dtype)) * jax.lax.rsqrt(var + self.epsilon).astype(x.dtype)
    if self.affine:
      scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
      bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
      y = y * scale.astype(x.dtype) + bias.astype(x.dtype)
    return y


class Conv2D(nn.Module):
  """An NHWC convolution with PyTorch's padding and initialisation.

  Uses :func:`nasjax.spaces.conv.conv2d` (fast kernel gradients on CPU). The kernel
  is stored as ``kernel`` with shape ``(k, k, C_in // groups, features)``;
  with ``use_bias`` a ``bias`` of shape ``(features,)`` is added, initialised
  as PyTorch does, U(+-1/sqrt(fan_in)) with ``fan_in = k * k * C_in // groups``.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  dilation: int = 1
  groups: int = 1
  use_bias: bool = False

  @nn.compact
  def __call__(self, x: Array) -> Array:
    shape = (self.kernel, self.kernel, x.shape[-1] // self.groups, self.features)
    kernel = self.param("kernel", torch_kernel_init, shape, jnp.float32)
    y = conv2d(x, kernel.astype(x.dtype), self.stride, self.padding, self.dilation, self.groups)
    if self.use_bias:
      fan_in = self.kernel * self.kernel * (x.shape[-1] // self.groups)
      bias = self.param("bias", torch_bias_init(fan_in), (self.features,), jnp.float32)
      y = y + bias.astype(y.dtype)
    return y


class ReLUConvBN(nn.Module):
  """ReLU, convolution, batch norm: NAS-Bench-201's ``nor_conv_kxk``.

  ``bias`` gives the convolution a bias (AutoDL's search cells use
  ``bias = not affine``). Under a batch-statistics BN it cancels exactly;
  it shifts what tracked running means record.
  """

  features: int
  kernel: int
  stride: int = 1
  padding: int = 0
  affine: bool = True
  track_running_stats: bool = True
  bias: bool = False

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = nn.relu(x)
    x = Conv2D(self.features, self.kernel, self.stride, self.padding, use_bias=self.bias)(x)
    return BatchNorm(self.affine, self.track_running_stats)(x, train)


def avg_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 average pooling, padding 1, padded zeros excluded from the mean.

  Matches PyTorch's ``AvgPool2d(3, stride, 1, count_include_pad=False)``.
  """
  window, strides = (1, 3, 3, 1), (1, stride, stride, 1)
  pads = ((0, 0), (1, 1), (1, 1), (0, 0))
  summed = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, strides, pads)
  return summed * _inverse_counts(x.shape[1], x.shape[2], stride, x.dtype)


def _inverse_counts(h: int, w: int, stride: int, dtype: Any = np.float32) -> np.ndarray:
  """1 / (unpadded elements in each 3x3 window), a host constant of shape (1, H', W', 1).

  Computed with numpy so the compiled program holds a small literal rather
  than a window reduction for XLA to constant-fold (slow under vmap). The
  reciprocals are computed in float64 and rounded once to ``dtype`` (the
  input's), so a float64 run divides by the exact count.
  """

  def per_axis(n: int) -> np.ndarray:
    starts = np.arange(0, n, stride) - 1  # padding 1
    return np.minimum(starts + 3, n) - np.maximum(starts, 0)

  counts = per_axis(h)[:, None] * per_axis(w)[None, :]
  return (1.0 / counts.astype(np.float64)).astype(np.dtype(dtype))[None, :, :, None]


def max_pool_3x3(x: Array, stride: int = 1) -> Array:
  """3x3 max pooling, padding 1 with -inf (PyTorch's ``MaxPool2d(3, stride, 1)``)."""
  window, strides = (1, 3, 3, 1), (1, stride, stride, 1)
  pads = ((0, 0), (1, 1), (1, 1), (0, 0))
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, pads)


def max_pool_2x2(x: Array) -> Array:
  """2x2 max pooling with stride 2; odd sizes round up (padding with -inf)."""
  pads = ((0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0))
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), pads)


def channel_shuffle(x: Array, groups: int) -> Array:
  """ShuffleNet's channel shuffle on an NHWC tensor.

  The channels form ``groups`` blocks of ``C // groups``; channel ``i`` of
  block ``g`` moves to position ``i * groups + g`` (PyTorch's
  ``view(N, g, C//g, H, W).transpose(1, 2)`` on NCHW).

  Example:
    >>> import jax.numpy as jnp
    >>> channel_shuffle(jnp.arange(6.0).reshape(1, 1, 1, 6), 2)[0, 0, 0].tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
  """
  n, h, w, c = x.shape
  return x.reshape(n, h, w, groups, c // groups).swapaxes(-1, -2).reshape(n, h, w, c)


def partial_channel_merge(mixed: Array, bypass: Array, groups: int) -> Array:
  """PC-DARTS' edge output from the mixed-op part and the bypassed channels.

  ``mixed`` is the mixed op applied to the first ``C // groups`` channels of
  the edge input, ``bypass`` the other channels. Where the edge strides,
  the bypass is max-pooled 2x2 to the mixed part's size. The two are
  concatenated (mixed part first) and channel-shuffled with ``groups`` groups.
  """
  if bypass.shape[1:3] != mixed.shape[1:3]:
    bypass = max_pool_2x2(bypass)
  return channel_shuffle(jnp.concatenate([mixed, bypass.astype(mixed.dtype)], axis=-1), groups)


def node_softmax(logits: Array, fan_in: tuple[int, ...]) -> Array:
  """Edge-normalisation weights: a softmax over each node's incoming edges.

  Args:
    logits: one logit per edge, the edges of each node contiguous.
    fan_in: the number of incoming edges of each node, in order.

  Example:
    >>> import jax.numpy as jnp
    >>> node_softmax(jnp.zeros(5), (2, 3)).round(3).tolist()
    [0.5, 0.5, 0.333, 0.333, 0.333]
  """
  if logits.shape != (sum(fan_in),):
    raise ValueError(f"edge logits must have shape {(sum(fan_in),)}, got {logits.shape}")
  bounds = np.cumsum((0,) + tuple(fan_in)).tolist()
  return jnp.concatenate([jax.nn.softmax(logits[a:b]) for a, b in itertools.pairwise(bounds)])


def avg_pool_2x2(x: Array) -> Array:
  """2x2 average pooling with stride 2 (no padding)."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


class ResNetBasicBlock(nn.Module):
  """NAS-Bench-201's reduction block between stages.

  Two 3x3 ReLU-Conv-BN (the first with stride 2) plus a shortcut of 2x2
  average pooling and a 1x1 convolution.
  """

  features: int
  affine: bool = True
  track_running_stats: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    bn_kw = dict(affine=self.affine, track_running_stats=self.track_running_stats)
    y = ReLUConvBN(self.features, 3, 2, 1, **bn_kw, name="conv_a")(x, train)
    y = ReLUConvBN(self.features, 3, 1, 1, **bn_kw, name="conv_b")(y, train)
    shortcut = Conv2D(self.features, 1, name="shortcut")(avg_pool_2x2(x))
    return shortcut + y


class Classifier(nn.Module):
  """BN, ReLU, global average pooling and a linear layer."""

  num_classes: int

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = nn.relu(BatchNorm(affine=True, track_running_stats=True, name="last_bn")(x, train))
    x = jnp.mean(x, axis=(1, 2))
    fan_in = x.shape[-1]
    return nn.Dense(
      self.num_classes,
      kernel_init=torch_kernel_init,
      bias_init=torch_bias_init(fan_in),
      name="linear",
    )(x)


class Stem(nn.Module):
  """3x3 convolution followed by an affine, tracked batch norm."""

  features: int

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = Conv2D(self.features, 3, padding=1, name="conv")(x)
    return BatchNorm(affine=True, track_running_stats=True, name="bn")(x, train)


class FactorizedReduce(nn.Module):
  """Halves the resolution without losing pixels: DARTS' ``FactorizedReduce``.

  ReLU, then two 1x1 convolutions of stride 2 with ``features // 2`` outputs
  each, the second on the input shifted by one pixel down and right, their
  concatenation along channels, and a batch norm. For odd sizes the shifted
  view is zero-padded at the far end so both halves have the same shape
  (the PyTorch original only supports even sizes, where this changes nothing).
  """

  features: int
  affine: bool = True
  track_running_stats: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    if self.features % 2:
      raise ValueError(f"FactorizedReduce needs an even number of features, got {self.features}")
    x = nn.relu(x)
    shifted = jnp.pad(x[:, 1:, 1:, :], ((0, 0), (0, 1), (0, 1), (0, 0)))
    a = Conv2D(self.features // 2, 1, stride=2, name="conv_1")(x)
    b = Conv2D(self.features // 2, 1, stride=2, name="conv_2")(shifted)
    y = jnp.concatenate([a, b], axis=-1)
    return BatchNorm(self.affine, self.track_running_stats, name="bn")(y, train)


def _strided(x: Array, stride: int) -> Array:
  return x[:, ::stride, ::stride, :] if stride > 1 else x


class DartsOp(nn.Module):
  """One candidate operation of the DARTS CNN space (NHWC in and out).

  ``none`` (zeros), ``max_pool_3x3`` / ``avg_pool_3x3`` (padding 1; the
  average excludes the padding), ``skip_connect`` (identity, or
  :class:`FactorizedReduce` at stride 2), ``sep_conv_kxk`` (twice ReLU,
  depthwise kxk, 1x1, BN; only the first depthwise conv strides),
  ``dil_conv_kxk`` (ReLU, depthwise kxk with dilation 2, 1x1, BN) and
  RobustDARTS' ``noise`` (N(0, 1) samples of the output's shape, drawn from
  the ``'noise'`` rng stream when the caller passes one, else from a fixed
  key derived from the module's path).

  Attributes:
    op: the op's name (:data:`nasjax.spaces.darts.genotype.DARTS_OPS` or ``noise``).
    channels: output channels (the input has as many, except for pools and
      ``none``, which keep the input's).
    stride: 1, or 2 in a reduction cell's edges from the cell inputs.
    affine: learn BN scale and bias (``False`` in search cells).
    track_running_stats: BN keeps running statistics (see :class:`BatchNorm`).
  """

  op: str
  channels: int
  stride: int = 1
  affine: bool = True
  track_running_stats: bool = True

  def _bn(self, name: str) -> BatchNorm:
    return BatchNorm(self.affine, self.track_running_stats, name=name)

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    op, s, c = self.op, self.stride, self.channels
    if op == "none":
      return jnp.zeros_like(_strided(x, s))
    if op == "noise":
      if self.has_rng("noise"):
        key = self.make_rng("noise")
      else:
        path = "/".join(self.scope.path) if self.scope is not None else ""
        key = jax.random.fold_in(jax.random.key(0), zlib.crc32(path.encode()))
      shape = _strided(x, s).shape
      return jax.random.normal(key, shape, jnp.float32).astype(x.dtype)
    if op == "max_pool_3x3":
      return max_pool_3x3(x, s)
    if op == "avg_pool_3x3":
      return avg_pool_3x3(x, s)
    if op == "skip_connect":
      if s == 1:
        return x
      return FactorizedReduce(c, self.affine, self.track_running_stats, name="reduce")(x, train)
    kind, _, size = op.rpartition("_")
    if kind in ("sep_conv", "dil_conv") and size in ("3x3", "5x5"):
      k = int(size[0])
      if kind == "dil_conv":
        x = nn.relu(x)
        x = Conv2D(x.shape[-1], k, s, k - 1, 2, groups=x.shape[-1], name="depthwise")(x)
        x = Conv2D(c, 1, name="pointwise")(x)
        return self._bn("bn")(x, train)
      # The first half keeps the input's channels, as DARTS' SepConv does.
      for i, stride, features in ((1, s, x.shape[-1]), (2, 1, c)):
        x = nn.relu(x)
        x = Conv2D(x.shape[-1], k, stride, k // 2, groups=x.shape[-1], name=f"depthwise_{i}")(x)
        x = Conv2D(features, 1, name=f"pointwise_{i}")(x)
        x = self._bn(f"bn_{i}")(x, train)
      return x
    raise ValueError(f"unknown DARTS op {op!r}")
