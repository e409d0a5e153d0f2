"""2-D convolution with a fast kernel gradient on CPU.

XLA's CPU backend computes the gradient of a convolution with respect to its
kernel through a slow generic path: for the 3x3 convolutions of a search cell
it costs 20-40x the forward pass, which makes every search step on a CPU
several times slower than it needs to be. :func:`conv2d` keeps XLA's
convolution for the forward pass and the input gradient, and gives the
kernel a custom JVP rule:

    d conv(x, w)[dw] = patches(x) @ dw.reshape(k*k*c_in, c_out)

where ``patches(x)`` concatenates the ``k*k`` shifted (padded, strided,
dilated) views of ``x`` along channels. That tangent is linear in ``dw``, so
JAX transposes it into one matrix product ``patches(x)^T @ g``, which the
CPU runs fast. The rule is a ``custom_jvp``, so forward mode (Hessian-vector
products) and every higher order (the exact second-order hypergradient) work,
and the values equal XLA's to float rounding.

The rule is used for dense (``groups == 1``), stride-1 convolutions on the CPU
backend, where it pays. The patches are rematerialised (rebuilt from ``x``
for the kernel gradient, not kept from the forward pass: they are ``k*k``
times the activation), and the input tangent passes the kernel as HWOI, so
that the input gradient JAX derives from it is a convolution with a standard
HWIO kernel: the transposed ``OI`` kernel takes XLA's slow generic loop on
the CPU inside scanned cells (about 6x slower there).

Depthwise convolutions (``groups == C_in == C_out``, the separable and
dilated convolutions of the DARTS space) are slow on the CPU too: XLA's
depthwise forward and backward passes cost about 8x a sum of the ``k*k``
shifted views of ``x`` scaled per channel, the same arithmetic. That form
(rematerialised in the backward pass, so only ``x`` is kept for it) makes a
DARTS search step about 3x faster on the CPU, but its compile takes about
twice as long and its backward pass holds about 2.5x the memory, so it is
opt-in: ``NASJAX_CONV_KERNEL_GRAD=matmul``. Being slices, multiplies and
adds, every derivative order is exact.

Elsewhere :func:`conv2d` is plain ``lax.conv_general_dilated``. Set
``NASJAX_CONV_KERNEL_GRAD`` to ``xla`` to force XLA's convolution everywhere,
or to ``matmul`` to use both fast paths on any backend; inside
:func:`xla_convolutions` every convolution traced is XLA's (cost counting
reads convolutions from the traced program).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

Array = jax.Array

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
KERNEL_GRAD_ENV = "NASJAX_CONV_KERNEL_GRAD"


def _xla_conv(x: Array, w: Array, stride: int, padding: int, dilation: int, groups: int) -> Array:
  return lax.conv_general_dilated(
    x,
    w,
    (stride, stride),
    ((padding, padding), (padding, padding)),
    rhs_dilation=(dilation, dilation),
    dimension_numbers=_DIMENSION_NUMBERS,
    feature_group_count=groups,
  )


def _views(x: Array, kernel: int, stride: int, padding: int, dilation: int) -> list[Array]:
  """The ``kernel**2`` shifted (padded, strided, dilated) views of ``x``, in HW order."""
  n, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
  ho = (h + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
  wo = (w + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
  views = [
    lax.slice(
      xp,
      (0, i * dilation, j * dilation, 0),
      (n, i * dilation + (ho - 1) * stride + 1, j * dilation + (wo - 1) * stride + 1, c),
      (1, stride, stride, 1),
    )
    for i in range(kernel)
    for j in range(kernel)
  ]
  return views


def _patches(x: Array, kernel: int, stride: int, padding: int, dilation: int) -> Array:
  """The ``kernel**2`` shifted views of ``x`` concatenated along channels (HWI order)."""
  views = _views(x, kernel, stride, padding, dilation)
  return views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)


@functools.partial(jax.checkpoint, static_argnums=(2, 3, 4))
def _depthwise_by_views(x: Array, w: Array, stride: int, padding: int, dilation: int) -> Array:
  """A depthwise convolution (kernel ``(k, k, 1, C)``) as a sum of scaled shifted views.

  Rematerialised: the backward pass recomputes the views from ``x`` instead
  of keeping ``k*k`` copies of the activation alive.
  """
  k = w.shape[0]
  views = _views(x, k, stride, padding, dilation)
  taps = w.reshape(k * k, w.shape[-1])
  out = views[0] * taps[0]
  for view, tap in zip(views[1:], taps[1:], strict=True):
    out = out + view * tap
  return out


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _conv_matmul_grad(x: Array, w: Array, stride: int, padding: int, dilation: int) -> Array:
  return _xla_conv(x, w, stride, padding, dilation, 1)


def _conv_swapped_kernel(x: Array, w: Array, stride: int, padding: int, dilation: int) -> Array:
  """``conv(x, w)`` with the kernel passed transposed, as HWOI.

  The same values as :func:`_xla_conv`. JAX transposes a convolution with
  respect to its input into a convolution whose kernel labels swap ``I`` and
  ``O``; with an HWIO kernel that gives an ``OI`` kernel which XLA's CPU
  backend lowers to a slow generic loop when the kernel is computed inside a
  loop body (cells under ``nn.scan``). Passing the kernel as HWOI makes that
  transposed convolution a standard HWIO one, which runs on the fast path.
  """
  return lax.conv_general_dilated(
    x,
    jnp.swapaxes(w, 2, 3),
    (stride, stride),
    ((padding, padding), (padding, padding)),
    rhs_dilation=(dilation, dilation),
    dimension_numbers=("NHWC", "HWOI", "NHWC"),
  )


def _conv_matmul_grad_jvp(stride, padding, dilation, primals, tangents):
  x, w = primals
  dx, dw = tangents
  y = _conv_matmul_grad(x, w, stride, padding, dilation)
  dy = jnp.zeros_like(y)
  if type(dx) is not SymbolicZero:
    dy = dy + _conv_swapped_kernel(dx, w, stride, padding, dilation)
  if type(dw) is not SymbolicZero:
    dy = dy + _patches_times(x, dw, stride, padding, dilation)
  return y, dy


@functools.partial(jax.checkpoint, static_argnums=(2, 3, 4))
def _patches_times(x: Array, dw: Array, stride: int, padding: int, dilation: int) -> Array:
  """``patches(x) @ dw``, rematerialised: the patches are rebuilt from ``x`` where needed.

  Without the checkpoint the ``k*k``-times larger patches would be kept from
  the forward pass to the kernel gradient (or stacked per cell under a scan).
  """
  patches = _patches(x, dw.shape[0], stride, padding, dilation)
  return jnp.einsum("nhwk,kd->nhwd", patches, dw.reshape(-1, dw.shape[-1]))


_conv_matmul_grad.defjvp(_conv_matmul_grad_jvp, symbolic_zeros=True)


_forced: list[str] = []


@contextlib.contextmanager
def xla_convolutions() -> Iterator[None]:
  """Within this context, :func:`conv2d` traces XLA's convolution on every backend."""
  _forced.append("xla")
  try:
    yield
  finally:
    _forced.pop()


def _choice() -> str:
  if _forced:
    return _forced[-1]
  choice = os.environ.get(KERNEL_GRAD_ENV, "auto")
  if choice not in ("auto", "xla", "matmul"):
    raise ValueError(f"{KERNEL_GRAD_ENV} must be 'auto', 'xla' or 'matmul', got {choice!r}")
  return choice


def _use_views(groups: int, c_in: int, kernel_shape: tuple[int, ...]) -> bool:
  choice = _choice()
  if not (groups == c_in == kernel_shape[-1] and kernel_shape[2] == 1) or choice == "xla":
    return False
  return kernel_shape[0] == kernel_shape[1] and choice == "matmul"


def _use_matmul_grad(groups: int, stride: int, kernel_shape: tuple[int, ...]) -> bool:
  choice = _choice()
  if groups != 1 or kernel_shape[0] != kernel_shape[1] or choice == "xla":
    return False
  return choice == "matmul" or (stride == 1 and jax.default_backend() == "cpu")


def conv2d(
  x: Array, kernel: Array, stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1
) -> Array:
  """NHWC convolution with an HWIO kernel, symmetric zero padding.

  Args:
    x: ``(N, H, W, C_in)`` input.
    kernel: ``(k, k, C_in // groups, C_out)``.
    stride: as in PyTorch's ``Conv2d`` (same for H and W).
    padding: as in PyTorch's ``Conv2d`` (same for H and W).
    dilation: as in PyTorch's ``Conv2d`` (same for H and W).
    groups: feature groups (``C_in`` for a depthwise convolution).

  Returns:
    ``(N, H', W', C_out)``, equal to ``lax.conv_general_dilated``.
  """
  if groups > 1 and _use_views(groups, x.shape[-1], kernel.shape):
    return _depthwise_by_views(x, kernel, stride, padding, dilation)
  if _use_matmul_grad(groups, stride, kernel.shape):
    return _conv_matmul_grad(x, kernel, stride, padding, dilation)
  return _xla_conv(x, kernel, stride, padding, dilation, groups)
