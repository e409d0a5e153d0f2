"""What a search optimises and reports, per task: the loss and the quality metric.

A :class:`Task` says how a network's output is scored against a batch's
``label`` (the supervision target: class indices for classification, the
high-resolution image for super-resolution). Search spaces name their task
(``SearchSpace.task``); the bilevel step, evaluation, the Hessian objective,
the discretisation gap and perturbation selection all go through it.

* ``classification``: softmax cross-entropy; metric ``acc`` (top-1 accuracy).
* ``super_resolution``: L1 reconstruction loss on [0, 1] images (mean absolute
  error over pixels and channels); metric ``psnr``: per-image RGB PSNR in dB
  of the output clipped to [0, 1] (the training-time figure; evaluation on
  the Y channel with the border cropped is :mod:`nasjax.tasks.super_resolution.metrics`).
* ``segmentation``: per-pixel softmax cross-entropy on logits ``(N, H, W, C)``
  against train ids ``(N, H, W)``, pixels labelled :data:`IGNORE_INDEX` (or
  any id outside ``[0, C)``) left out; the batch loss is the mean over every
  valid pixel of the batch, the per-example loss each image's mean over its
  own valid pixels (0 for an image without any). Metric ``pixel_acc``: the
  fraction of an image's valid pixels predicted right (mIoU over a whole set
  is :mod:`nasjax.tasks.segmentation.metrics`).

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.tasks.losses import get_task
  >>> task = get_task('super_resolution')
  >>> hr = jnp.full((1, 4, 4, 3), 0.5)
  >>> float(task.loss(hr + 0.1, hr))
  0.1...
  >>> round(float(task.per_example_metric(hr + 0.1, hr)[0]), 2)  # 10 log10(1 / 0.01)
  20.0
  >>> seg = get_task('segmentation')
  >>> logits = jnp.zeros((1, 1, 3, 2)).at[0, 0, :, 1].set(10.0)  # predicts class 1 everywhere
  >>> labels = jnp.array([[[1, 0, IGNORE_INDEX]]])
  >>> round(float(seg.per_example_metric(logits, labels)[0]), 2)  # 1 of 2 valid pixels right
  0.5
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from nasjax.errors import ConfigError

Array = jax.Array

#: The label of pixels that neither the loss nor the metrics count (void, padding).
IGNORE_INDEX = 255


def cross_entropy(logits: Array, labels: Array) -> Array:
  """Mean softmax cross-entropy with integer labels, computed in float32."""
  logits = logits.astype(jnp.float32) if logits.dtype != jnp.float64 else logits
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(logits: Array, labels: Array) -> Array:
  """Fraction of examples whose top-1 prediction equals the label."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def _as_f32(x: Array) -> Array:
  return x.astype(jnp.float32) if x.dtype != jnp.float64 else x


def _ce_per_example(logits: Array, labels: Array) -> Array:
  return optax.softmax_cross_entropy_with_integer_labels(_as_f32(logits), labels)


def _correct(logits: Array, labels: Array) -> Array:
  return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)


def _l1_per_example(outputs: Array, targets: Array) -> Array:
  diff = jnp.abs(_as_f32(outputs) - _as_f32(targets))
  return jnp.mean(diff.reshape(diff.shape[0], -1), axis=-1)


def psnr_rgb(outputs: Array, targets: Array) -> Array:
  """Per-image PSNR in dB of ``outputs`` clipped to [0, 1] against [0, 1] ``targets``.

  Identical images give ``+inf``.
  """
  diff = jnp.clip(_as_f32(outputs), 0.0, 1.0) - _as_f32(targets)
  mse = jnp.mean(jnp.square(diff).reshape(diff.shape[0], -1), axis=-1)
  return -10.0 * jnp.log10(mse)


def _valid_pixel_ce(logits: Array, labels: Array) -> tuple[Array, Array]:
  """Per-pixel cross-entropy (0 at ignored pixels) and the float mask of valid pixels."""
  valid = (labels >= 0) & (labels < logits.shape[-1]) & (labels != IGNORE_INDEX)
  safe = jnp.where(valid, labels, 0)  # an ignored label never reaches the CE, nor its gradient
  ce = optax.softmax_cross_entropy_with_integer_labels(_as_f32(logits), safe)
  mask = valid.astype(ce.dtype)
  return ce * mask, mask


def _per_image_sum(x: Array) -> Array:
  return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


def _seg_per_example_loss(logits: Array, labels: Array) -> Array:
  ce, mask = _valid_pixel_ce(logits, labels)
  return _per_image_sum(ce) / jnp.maximum(_per_image_sum(mask), 1.0)


def _seg_batch_loss(logits: Array, labels: Array) -> Array:
  ce, mask = _valid_pixel_ce(logits, labels)
  return jnp.sum(ce) / jnp.maximum(jnp.sum(mask), 1.0)


def pixel_accuracy(logits: Array, labels: Array) -> Array:
  """Per-image fraction of valid pixels (label in ``[0, C)``, not 255) whose argmax is the label.

  An image without any valid pixel scores 0.
  """
  valid = (labels >= 0) & (labels < logits.shape[-1]) & (labels != IGNORE_INDEX)
  right = (jnp.argmax(logits, axis=-1) == labels) & valid
  count = _per_image_sum(valid.astype(jnp.float32))
  return _per_image_sum(right.astype(jnp.float32)) / jnp.maximum(count, 1.0)


@dataclasses.dataclass(frozen=True)
class Task:
  """The loss and the metric of a learning task.

  Attributes:
    name: ``classification``, ``super_resolution`` or ``segmentation``.
    metric: the metric's name in logs and results (``acc``, ``psnr`` or
      ``pixel_acc``); higher is better.
    per_example_loss: ``(outputs, labels) -> (N,)`` losses.
    per_example_metric: ``(outputs, labels) -> (N,)`` metric values.
    label_dtype: the dtype of a batch's ``label``.
    batch_loss: ``(outputs, labels) -> ()``, the loss of a whole batch when
      it is not the mean of the per-example losses (segmentation: the mean
      over every valid pixel); None for that mean.
  """

  name: str
  metric: str
  per_example_loss: Callable[[Array, Array], Array]
  per_example_metric: Callable[[Array, Array], Array]
  label_dtype: jnp.dtype
  batch_loss: Callable[[Array, Array], Array] | None = None

  def loss(self, outputs: Array, labels: Array) -> Array:
    """The loss of the batch: :attr:`batch_loss`, or else the mean per-example loss."""
    if self.batch_loss is not None:
      return self.batch_loss(outputs, labels)
    return jnp.mean(self.per_example_loss(outputs, labels))

  def score(self, outputs: Array, labels: Array) -> Array:
    """The mean metric over the batch."""
    return jnp.mean(self.per_example_metric(outputs, labels))


CLASSIFICATION = Task("classification", "acc", _ce_per_example, _correct, jnp.int32)
SUPER_RESOLUTION = Task("super_resolution", "psnr", _l1_per_example, psnr_rgb, jnp.float32)
SEGMENTATION = Task(
  "segmentation",
  "pixel_acc",
  _seg_per_example_loss,
  pixel_accuracy,
  jnp.int32,
  batch_loss=_seg_batch_loss,
)

#: Every task, by name.
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, SUPER_RESOLUTION, SEGMENTATION)}


def get_task(name: str) -> Task:
  """The task called ``name``.

  Raises:
    ConfigError: if there is none.
  """
  if name not in TASKS:
    raise ConfigError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
  return TASKS[name]
