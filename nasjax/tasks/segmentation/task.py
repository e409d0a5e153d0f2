"""The segmentation task: per-pixel cross-entropy and pixel accuracy; mIoU of finished networks."""

from __future__ import annotations

import jax.numpy as jnp

from nasjax.tasks.base import Task
from nasjax.tasks.segmentation import data, evaluate
from nasjax.tasks.segmentation.evaluate import COST_SHAPE
from nasjax.tasks.segmentation.losses import batch_loss, per_example_loss, pixel_accuracy

SEGMENTATION = Task(
  name="segmentation",
  metric="pixel_acc",
  per_example_loss=per_example_loss,
  per_example_metric=pixel_accuracy,
  label_dtype=jnp.int32,
  batch_loss=batch_loss,
  metric_label="pixel accuracy",
  data_config=data.seg_data_config,
  validate_data=data.validate_data,
  search_data=data.search_data,
  cost_shape=lambda image_shape: COST_SHAPE,
  evaluate_network=evaluate.network_scores,
)
