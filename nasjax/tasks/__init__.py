"""Learning tasks: what a network's output is scored by, and the data it learns from.

A :class:`Task` record (:mod:`nasjax.tasks.base`) holds a task's loss,
metric, default data block, its validation, the search batches and the
evaluation of a finished network; :mod:`nasjax.tasks.registry` registers
them by name. One package per task: :mod:`nasjax.tasks.classification`
(CIFAR, ImageNet, DARTS retraining), :mod:`nasjax.tasks.super_resolution`
(DIV2K and image folders, PSNR / SSIM, retraining and evaluation) and
:mod:`nasjax.tasks.segmentation` (Cityscapes and CamVid, mIoU, retraining
and evaluation).
"""

from nasjax.tasks.base import Task
from nasjax.tasks.registry import TASKS, get_task, register_task, task_of

__all__ = ["TASKS", "Task", "get_task", "register_task", "task_of"]
