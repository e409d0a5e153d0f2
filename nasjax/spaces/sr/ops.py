"""Candidate operations and building blocks of the super-resolution search spaces.

Twelve candidates, ``{conv, sep_conv, dil_conv} x {3x3, 5x5} x {plain, _bn}``,
in the order of :data:`SR_OPS`:

* ``conv_kxk``: a dense ``k x k`` convolution with bias, padding ``k // 2``.
* ``sep_conv_kxk``: a depthwise ``k x k`` convolution (one filter per input
  channel, with bias) followed by a pointwise ``1 x 1`` convolution
  ``C_in -> C_out`` (with bias): a depthwise-separable convolution.
* ``dil_conv_kxk``: the same with dilation 2 in the depthwise convolution
  (padding ``2 * (k // 2)``).
* ``*_bn``: the op followed by an affine :class:`nasjax.spaces.ops.BatchNorm`; whether
  it keeps running statistics is a field (``False`` in a search supernet, as
  DARTS' search BN, ``True`` in a discrete network).

No op contains an activation: the network applies one after the mixed op.
Every convolution goes through :func:`nasjax.spaces.conv.conv2d` and is initialised
as PyTorch's ``nn.Conv2d`` (kernel and bias ``U(+-1/sqrt(fan_in))``).
:class:`MixedSROp` is the weighted sum of candidates at one searched position.

Building blocks of the networks: :class:`ConvBias` (a convolution with bias),
:func:`pixel_shuffle` (PyTorch's ``PixelShuffle`` channel order) and IMDN's
contrast-aware channel attention :class:`CCALayer`.

Costs: :func:`op_macs` counts the multiply-adds of the convolution kernels
only, ``k*k*C_in*C_out*h*w`` for ``conv`` and ``k*k*C_in*h*w + C_in*C_out*h*w``
for ``sep_conv`` and ``dil_conv``; bias additions and batch norm are not
counted (:func:`nasjax.spaces.flops.multiply_adds` adds one per output element for
each bias). The search's FLOPs loss evaluates it at the LR size of a
1280x720 output, :func:`cost_lr_size`.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.sr import ops as sr_ops
  >>> op = sr_ops.sr_op('sep_conv_3x3_bn', features=8, track_running_stats=False)
  >>> variables = op.init(jax.random.key(0), jnp.zeros((1, 6, 6, 4)), True)
  >>> op.apply(variables, jnp.ones((1, 6, 6, 4)), True).shape
  (1, 6, 6, 8)
  >>> sr_ops.op_params('sep_conv_3x3_bn', 4, 8)  # 9*4+4 + 4*8+8 + 2*8
  96
  >>> sr_ops.op_macs('conv_3x3', 4, 8, 6, 6)
  10368
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.errors import ConfigError
from nasjax.spaces import ops
from nasjax.spaces.conv import conv2d

Array = jax.Array

_KINDS = ("conv", "sep_conv", "dil_conv")

#: The candidate ops, kind-major, then kernel size, then without / with BN.
SR_OPS: tuple[str, ...] = tuple(
  f"{kind}_{k}x{k}{bn}" for kind in _KINDS for k in (3, 5) for bn in ("", "_bn")
)

#: The output size (height, width) at which the FLOPs loss counts multiply-adds.
COST_HR_SIZE: tuple[int, int] = (720, 1280)


def parse_op(name: str) -> tuple[str, int, bool]:
  """Splits an op name into ``(kind, kernel size, with BN)``.

  Raises:
    ConfigError: if ``name`` is not one of :data:`SR_OPS`.

  Example:
    >>> parse_op('dil_conv_5x5_bn')
    ('dil_conv', 5, True)
  """
  if name not in SR_OPS:
    raise ConfigError(f"unknown super-resolution op {name!r}; choose from {list(SR_OPS)}")
  bn = name.endswith("_bn")
  base = name[: -len("_bn")] if bn else name
  kind, _, size = base.rpartition("_")
  return kind, int(size.partition("x")[0]), bn


def cost_lr_size(scale: int) -> tuple[int, int]:
  """The LR input size ``(h, w)`` whose x``scale`` output is 1280x720 (rounded down).

  Example:
    >>> cost_lr_size(2), cost_lr_size(3)
    ((360, 640), (240, 426))
  """
  return COST_HR_SIZE[0] // scale, COST_HR_SIZE[1] // scale


class ConvBias(nn.Module):
  """An NHWC convolution with bias, "same" padding by default.

  Parameters ``kernel`` ``(k, k, C_in // groups, features)`` and ``bias``
  ``(features,)``, both initialised as PyTorch's ``nn.Conv2d``.

  Attributes:
    features: output channels.
    kernel: kernel size ``k``.
    dilation: kernel dilation.
    groups: feature groups (``C_in`` for a depthwise convolution).
    padding: zero padding on each side; ``None`` keeps the size
      (``dilation * (k // 2)``).
    stride: the stride.
  """

  features: int
  kernel: int
  dilation: int = 1
  groups: int = 1
  padding: int | None = None
  stride: int = 1

  @nn.compact
  def __call__(self, x: Array) -> Array:
    c_in = x.shape[-1]
    shape = (self.kernel, self.kernel, c_in // self.groups, self.features)
    kernel = self.param("kernel", ops.torch_kernel_init, shape, jnp.float32)
    fan_in = self.kernel * self.kernel * (c_in // self.groups)
    bias = self.param("bias", ops.torch_bias_init(fan_in), (self.features,), jnp.float32)
    pad = self.dilation * (self.kernel // 2) if self.padding is None else self.padding
    y = conv2d(x, kernel.astype(x.dtype), self.stride, pad, self.dilation, self.groups)
    return y + bias.astype(x.dtype)


class SROp(nn.Module):
  """One candidate op (see the module docstring), called as ``op(x, train)``.

  Attributes:
    op: the op's name, one of :data:`SR_OPS`.
    features: output channels.
    track_running_stats: the ``_bn`` variants' BN keeps running statistics.
  """

  op: str
  features: int
  track_running_stats: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    kind, k, bn = parse_op(self.op)
    if kind == "conv":
      y = ConvBias(self.features, k, name="conv")(x)
    else:
      dilation = 2 if kind == "dil_conv" else 1
      c_in = x.shape[-1]
      y = ConvBias(c_in, k, dilation=dilation, groups=c_in, name="depthwise")(x)
      y = ConvBias(self.features, 1, name="pointwise")(y)
    if bn:
      y = ops.BatchNorm(True, self.track_running_stats, name="bn")(y, train)
    return y


def sr_op(
  name: str, features: int, track_running_stats: bool, module_name: str | None = None
) -> SROp:
  """The candidate op ``name`` with ``features`` output channels.

  Args:
    name: one of :data:`SR_OPS`.
    features: output channels.
    track_running_stats: whether a ``_bn`` variant's BN keeps running statistics.
    module_name: the Flax module name (inside a parent module).

  Returns:
    A module called as ``op(x, train)``.

  Raises:
    ConfigError: if ``name`` is not one of :data:`SR_OPS`.
  """
  parse_op(name)
  return SROp(name, features, track_running_stats, name=module_name)


def op_macs(name: str, c_in: int, c_out: int, h: int, w: int) -> int:
  """Multiply-adds of op ``name`` on an ``h x w`` input (kernels only; no bias, no BN).

  Example:
    >>> op_macs('dil_conv_5x5', 16, 32, 10, 10)  # 25*16*100 + 16*32*100
    91200
  """
  kind, k, _ = parse_op(name)
  if kind == "conv":
    return k * k * c_in * c_out * h * w
  return (k * k * c_in + c_in * c_out) * h * w


def op_params(name: str, c_in: int, c_out: int) -> int:
  """Learned parameters of op ``name`` (kernels, biases, BN scale and bias).

  Example:
    >>> op_params('conv_3x3', 64, 64)
    36928
  """
  kind, k, bn = parse_op(name)
  if kind == "conv":
    count = k * k * c_in * c_out + c_out
  else:
    count = k * k * c_in + c_in + c_in * c_out + c_out
  return count + (2 * c_out if bn else 0)


class MixedSROp(nn.Module):
  """A weighted sum of candidate ops, called as ``mixed(x, weights_row, train)``.

  Returns ``sum_o weights_row[o] * op_o(x)``. Each op is a submodule named
  after the op (parameters ``{op}/kernel``..., e.g. ``conv_3x3/conv/kernel``),
  so the discrete network, built as a ``MixedSROp`` of its one chosen op,
  has the same parameter paths as the supernet. A zero row gives zeros.

  Attributes:
    op_names: the candidates, in the order of the weights.
    features: output channels of every op.
    track_running_stats: the ``_bn`` variants' BN keeps running statistics.
    partial_channels: PC-DARTS' K: the ops see ``1/K`` of the input channels
      (:func:`partial_channel_mix`); 1 is off.
  """

  op_names: Sequence[str]
  features: int
  track_running_stats: bool = False
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, weights_row: Array | None, train: bool) -> Array:
    """Mixes the ops; ``weights_row=None`` adds them unweighted (with one op: that op)."""
    k = self.partial_channels
    if k > 1:
      return partial_channel_mix(
        lambda part, features: self._mix(part, weights_row, train, features), x, self.features, k
      )
    return self._mix(x, weights_row, train, self.features)

  def _mix(self, x: Array, weights_row: Array | None, train: bool, features: int) -> Array:
    names = tuple(self.op_names)
    if weights_row is not None and jnp.shape(weights_row) != (len(names),):
      raise ValueError(
        f"mixing weights must have shape {(len(names),)} for ops {list(names)}, "
        f"got {jnp.shape(weights_row)}"
      )
    out = None
    for i, name in enumerate(names):
      y = sr_op(name, features, self.track_running_stats, module_name=name)(x, train)
      if weights_row is not None:
        y = weights_row[i].astype(y.dtype) * y
      out = y if out is None else out + y
    return out


def partial_channel_mix(
  mix: Callable[[Array, int], Array], x: Array, features: int, groups: int
) -> Array:
  """PC-DARTS' partial channels for an op that may change the channel count.

  ``mix(part, features // groups)`` (the mixed op) sees the first
  ``C_in // groups`` input channels and gives ``features // groups``; the
  other input channels bypass it, cut to (or padded with zeros up to) the
  ``features - features // groups`` channels still needed; the two are
  concatenated and channel-shuffled with ``groups`` groups. Where the op keeps
  the channel count this is PC-DARTS' edge exactly; IMDN's c2 and c3 (48 -> 64)
  pad the bypass, c4 (48 -> 16) cuts it.
  """
  c_in = x.shape[-1]
  if c_in % groups or features % groups:
    raise ConfigError(
      f"partial channels: {c_in} input and {features} output channels must be divisible by "
      f"config.space.partial_channels ({groups})"
    )
  mixed = mix(x[..., : c_in // groups], features // groups)
  need = features - features // groups
  rest = x[..., c_in // groups :][..., :need]
  if rest.shape[-1] < need:
    rest = jnp.pad(rest, [(0, 0)] * (rest.ndim - 1) + [(0, need - rest.shape[-1])])
  return ops.channel_shuffle(jnp.concatenate([mixed, rest.astype(mixed.dtype)], axis=-1), groups)


def pixel_shuffle(x: Array, scale: int) -> Array:
  """PyTorch's ``PixelShuffle`` on NHWC: channel ``c*s*s + i*s + j`` goes to offset (i, j) of ``c``.

  ``out[n, h*s + i, w*s + j, c] = x[n, h, w, c*s*s + i*s + j]``, so weights of
  a PyTorch upsampling conv port unchanged.

  Example:
    >>> x = jnp.arange(4.0).reshape(1, 1, 1, 4)
    >>> pixel_shuffle(x, 2)[0, :, :, 0].tolist()
    [[0.0, 1.0], [2.0, 3.0]]
  """
  n, h, w, c = x.shape
  if c % (scale * scale):
    raise ValueError(f"pixel shuffle by {scale} needs channels divisible by {scale**2}, got {c}")
  y = x.reshape(n, h, w, c // (scale * scale), scale, scale)
  return y.transpose(0, 1, 4, 2, 5, 3).reshape(n, h * scale, w * scale, c // (scale * scale))


def channel_contrast(x: Array) -> Array:
  """Per-channel contrast of NHWC ``x``: standard deviation plus mean over H, W.

  The deviation is the population one (mean squared deviation), as IMDN's
  ``stdv_channels``. Returns shape ``(N, 1, 1, C)``.
  """
  mean = jnp.mean(x, axis=(1, 2), keepdims=True)
  std = jnp.sqrt(jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True))
  return std + mean


class CCALayer(nn.Module):
  """Contrast-aware channel attention: ``x * sigmoid(conv(relu(conv(contrast(x)))))``.

  The 1x1 convs map ``C -> max(1, C // reduction) -> C``, with biases.
  """

  reduction: int = 16

  @nn.compact
  def __call__(self, x: Array) -> Array:
    c = x.shape[-1]
    y = channel_contrast(x)
    y = nn.relu(ConvBias(max(1, c // self.reduction), 1, name="squeeze")(y))
    y = nn.sigmoid(ConvBias(c, 1, name="excite")(y))
    return x * y
