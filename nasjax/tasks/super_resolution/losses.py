"""The super-resolution loss and metric: L1 reconstruction and per-image RGB PSNR.

The loss is the mean absolute error over pixels and channels of [0, 1]
images; the metric is the PSNR in dB of the output clipped to [0, 1] (the
training-time figure; evaluation on the Y channel with the border cropped is
:mod:`nasjax.tasks.super_resolution.metrics`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nasjax.tasks.base import as_float32

Array = jax.Array


def l1_per_example(outputs: Array, targets: Array) -> Array:
  """The mean absolute error of each image."""
  diff = jnp.abs(as_float32(outputs) - as_float32(targets))
  return jnp.mean(diff.reshape(diff.shape[0], -1), axis=-1)


def psnr_rgb(outputs: Array, targets: Array) -> Array:
  """Per-image PSNR in dB of ``outputs`` clipped to [0, 1] against [0, 1] ``targets``.

  Identical images give ``+inf``.
  """
  diff = jnp.clip(as_float32(outputs), 0.0, 1.0) - as_float32(targets)
  mse = jnp.mean(jnp.square(diff).reshape(diff.shape[0], -1), axis=-1)
  return -10.0 * jnp.log10(mse)
