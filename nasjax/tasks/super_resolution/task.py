"""The super-resolution task: L1 loss, RGB PSNR, patches of HR/LR image pairs."""

from __future__ import annotations

import jax.numpy as jnp

from nasjax.tasks.base import Task
from nasjax.tasks.super_resolution import data
from nasjax.tasks.super_resolution.losses import l1_per_example, psnr_rgb

SUPER_RESOLUTION = Task(
  name="super_resolution",
  metric="psnr",
  per_example_loss=l1_per_example,
  per_example_metric=psnr_rgb,
  label_dtype=jnp.float32,
  metric_label="PSNR (dB)",
  data_config=data.sr_data_config,
  validate_data=data.validate_data,
  search_data=data.search_data,
)
