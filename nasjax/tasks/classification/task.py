"""The classification task: cross-entropy, top-1 accuracy, CIFAR-style image data."""

from __future__ import annotations

import jax.numpy as jnp

from nasjax.tasks.base import Task
from nasjax.tasks.classification import data
from nasjax.tasks.classification.losses import correct, per_example_cross_entropy

CLASSIFICATION = Task(
  name="classification",
  metric="acc",
  per_example_loss=per_example_cross_entropy,
  per_example_metric=correct,
  label_dtype=jnp.int32,
  metric_label="accuracy",
  data_config=data.data_config,
  validate_data=data.validate_data,
  search_data=data.search_data,
)
