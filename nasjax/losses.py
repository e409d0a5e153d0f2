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
  the Y channel with the border cropped is :mod:`nasjax.sr_metrics`).

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.losses import get_task
  >>> task = get_task('super_resolution')
  >>> hr = jnp.full((1, 4, 4, 3), 0.5)
  >>> float(task.loss(hr + 0.1, hr))
  0.1...
  >>> round(float(task.per_example_metric(hr + 0.1, hr)[0]), 2)  # 10 log10(1 / 0.01)
  20.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from nasjax.errors import ConfigError

Array = jax.Array


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


@dataclasses.dataclass(frozen=True)
class Task:
  """The loss and the metric of a learning task.

  Attributes:
    name: ``classification`` or ``super_resolution``.
    metric: the metric's name in logs and results (``acc`` or ``psnr``);
      higher is better.
    per_example_loss: ``(outputs, labels) -> (N,)`` losses.
    per_example_metric: ``(outputs, labels) -> (N,)`` metric values.
    label_dtype: the dtype of a batch's ``label``.
  """

  name: str
  metric: str
  per_example_loss: Callable[[Array, Array], Array]
  per_example_metric: Callable[[Array, Array], Array]
  label_dtype: jnp.dtype

  def loss(self, outputs: Array, labels: Array) -> Array:
    """The mean loss over the batch."""
    return jnp.mean(self.per_example_loss(outputs, labels))

  def score(self, outputs: Array, labels: Array) -> Array:
    """The mean metric over the batch."""
    return jnp.mean(self.per_example_metric(outputs, labels))


CLASSIFICATION = Task("classification", "acc", _ce_per_example, _correct, jnp.int32)
SUPER_RESOLUTION = Task("super_resolution", "psnr", _l1_per_example, psnr_rgb, jnp.float32)

#: Every task, by name.
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, SUPER_RESOLUTION)}


def get_task(name: str) -> Task:
  """The task called ``name``.

  Raises:
    ConfigError: if there is none.
  """
  if name not in TASKS:
    raise ConfigError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
  return TASKS[name]
