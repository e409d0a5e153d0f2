"""The :class:`Task` record: what a learning task gives the search and its read-outs.

A task says how a network's output is scored against a batch's ``label``
(the supervision target: class indices for classification, the
high-resolution image for super-resolution, train ids for segmentation):
its loss and its metric; and what its data is: the default ``config.data``
block, its validation, the search batches built from a config, the input
size its networks are costed at, and any evaluation of a finished network
beyond the metric. Search spaces name their task (``SearchSpace.task``);
the bilevel step, evaluation, the Hessian objective, the discretisation gap,
perturbation selection and the single-stage read-out go through it, and no
module outside a task's package branches on a task's name.

The tasks are registered by name in :mod:`nasjax.tasks.registry`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array


def as_float32(x: Array) -> Array:
  """``x`` in float32 for a loss or metric (float64 stays float64)."""
  return x.astype(jnp.float32) if x.dtype != jnp.float64 else x


@dataclasses.dataclass(frozen=True)
class Task:
  """The loss, the metric and the data of a learning task.

  Attributes:
    name: the registry key, e.g. ``classification``.
    metric: the metric's name in logs and results (``acc``, ``psnr``,
      ``pixel_acc``); higher is better.
    per_example_loss: ``(outputs, labels) -> (N,)`` losses.
    per_example_metric: ``(outputs, labels) -> (N,)`` metric values.
    label_dtype: the dtype of a batch's ``label``.
    batch_loss: ``(outputs, labels) -> ()``, the loss of a whole batch when
      it is not the mean of the per-example losses (segmentation: the mean
      over every valid pixel); None for that mean.
    metric_label: the metric's name in sentences (``accuracy``).
    data_config: ``() -> ConfigDict``, the task's default ``config.data``.
    validate_data: ``config -> None``, raises ConfigError for an impossible
      ``config.data`` (or one that does not fit ``config.space``).
    search_data: ``(config, process_index, process_count) -> data``, the
      search's batches (``batch(step) -> (train, val)``, ``batches``,
      ``half_batches``, ``eval_batches``, ``steps_per_epoch``, ``image_shape``).
    cost_shape: ``image_shape -> (H, W, C)``, the input a finished network's
      multiply-adds are counted at (a search's own image size by default).
    evaluate_network: ``(network, data_config, search_data) -> {name: value}``,
      scores of a finished single-stage network beyond the test metric
      (segmentation: mIoU on whole images); None where there are none.
  """

  name: str
  metric: str
  per_example_loss: Callable[[Array, Array], Array]
  per_example_metric: Callable[[Array, Array], Array]
  label_dtype: Any
  batch_loss: Callable[[Array, Array], Array] | None = None
  metric_label: str = ""
  data_config: Callable[[], Any] | None = None
  validate_data: Callable[[Any], None] = lambda config: None
  search_data: Callable[..., Any] | None = None
  cost_shape: Callable[[tuple[int, ...]], tuple[int, ...]] = tuple
  evaluate_network: Callable[[Any, Any, Any], dict[str, Any]] | None = None

  def loss(self, outputs: Array, labels: Array) -> Array:
    """The loss of the batch: :attr:`batch_loss`, or else the mean per-example loss."""
    if self.batch_loss is not None:
      return self.batch_loss(outputs, labels)
    return jnp.mean(self.per_example_loss(outputs, labels))

  def score(self, outputs: Array, labels: Array) -> Array:
    """The mean metric over the batch."""
    return jnp.mean(self.per_example_metric(outputs, labels))
