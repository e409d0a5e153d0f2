"""The task registry: tasks by the name a search space gives (``SearchSpace.task``).

Built in: ``classification`` (:mod:`nasjax.tasks.classification`),
``super_resolution`` (:mod:`nasjax.tasks.super_resolution`) and
``segmentation`` (:mod:`nasjax.tasks.segmentation`), registered at the end
of this module. A new task is one :func:`register_task` call with its
:class:`~nasjax.tasks.base.Task` record.

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.tasks.registry import get_task
  >>> task = get_task('super_resolution')
  >>> hr = jnp.full((1, 4, 4, 3), 0.5)
  >>> float(task.loss(hr + 0.1, hr))
  0.1...
  >>> round(float(task.per_example_metric(hr + 0.1, hr)[0]), 2)  # 10 log10(1 / 0.01)
  20.0
  >>> seg = get_task('segmentation')
  >>> logits = jnp.zeros((1, 1, 3, 2)).at[0, 0, :, 1].set(10.0)  # predicts class 1 everywhere
  >>> labels = jnp.array([[[1, 0, 255]]])  # 255: ignored
  >>> round(float(seg.per_example_metric(logits, labels)[0]), 2)  # 1 of 2 valid pixels right
  0.5
"""

from __future__ import annotations

from typing import Any

from nasjax.errors import ConfigError
from nasjax.spaces.registry import get_space
from nasjax.tasks.base import Task
from nasjax.tasks.classification.task import CLASSIFICATION
from nasjax.tasks.segmentation.task import SEGMENTATION
from nasjax.tasks.super_resolution.task import SUPER_RESOLUTION

#: Every registered task, by name.
TASKS: dict[str, Task] = {}


def register_task(task: Task, replace: bool = False) -> Task:
  """Adds ``task`` to the registry under ``task.name``, and returns it.

  Raises:
    ValueError: if another task has that name (unless ``replace``).
  """
  if task.name in TASKS and TASKS[task.name] is not task and not replace:
    raise ValueError(f"a task named {task.name!r} is registered already")
  TASKS[task.name] = task
  return task


def get_task(name: str) -> Task:
  """The task called ``name``.

  Raises:
    ConfigError: if there is none.
  """
  if name not in TASKS:
    raise ConfigError(f"unknown task {name!r}; choose one of {sorted(TASKS)}")
  return TASKS[name]


def task_of(config: Any) -> Task:
  """The task of a search config: that of its space (``config.space.name``)."""
  return get_task(get_space(config.space.name).task)


for _task in (CLASSIFICATION, SUPER_RESOLUTION, SEGMENTATION):
  register_task(_task)
