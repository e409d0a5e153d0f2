"""The segmentation loss and metric: per-pixel cross-entropy and pixel accuracy, void ignored.

Logits ``(N, H, W, C)`` are scored against train ids ``(N, H, W)``; pixels
labelled :data:`IGNORE_INDEX` (or any id outside ``[0, C)``) are left out.
The batch loss is the mean over every valid pixel of the batch, the
per-example loss each image's mean over its own valid pixels (0 for an image
without any). The metric is the fraction of an image's valid pixels
predicted right (mIoU over a whole set is
:mod:`nasjax.tasks.segmentation.metrics`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from nasjax.tasks.base import as_float32

Array = jax.Array

#: The label of pixels that neither the loss nor the metrics count (void, padding).
IGNORE_INDEX = 255


def _valid(logits: Array, labels: Array) -> Array:
  return (labels >= 0) & (labels < logits.shape[-1]) & (labels != IGNORE_INDEX)


def _valid_pixel_ce(logits: Array, labels: Array) -> tuple[Array, Array]:
  """Per-pixel cross-entropy (0 at ignored pixels) and the float mask of valid pixels."""
  valid = _valid(logits, labels)
  safe = jnp.where(valid, labels, 0)  # an ignored label never reaches the CE, nor its gradient
  ce = optax.softmax_cross_entropy_with_integer_labels(as_float32(logits), safe)
  mask = valid.astype(ce.dtype)
  return ce * mask, mask


def _per_image_sum(x: Array) -> Array:
  return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def per_example_loss(logits: Array, labels: Array) -> Array:
  """Each image's mean cross-entropy over its valid pixels (0 without any)."""
  ce, mask = _valid_pixel_ce(logits, labels)
  return _per_image_sum(ce) / jnp.maximum(_per_image_sum(mask), 1.0)


def batch_loss(logits: Array, labels: Array) -> Array:
  """The mean cross-entropy over every valid pixel of the batch."""
  ce, mask = _valid_pixel_ce(logits, labels)
  return jnp.sum(ce) / jnp.maximum(jnp.sum(mask), 1.0)


def pixel_accuracy(logits: Array, labels: Array) -> Array:
  """Per-image fraction of valid pixels (label in ``[0, C)``, not 255) whose argmax is the label.

  An image without any valid pixel scores 0.
  """
  valid = _valid(logits, labels)
  right = (jnp.argmax(logits, axis=-1) == labels) & valid
  count = _per_image_sum(valid.astype(jnp.float32))
  return _per_image_sum(right.astype(jnp.float32)) / jnp.maximum(count, 1.0)
