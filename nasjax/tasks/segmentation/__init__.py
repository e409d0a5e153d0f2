"""Semantic segmentation: Cityscapes and CamVid crops, mIoU, retraining and evaluation."""

from nasjax.tasks.segmentation.task import SEGMENTATION

__all__ = ["SEGMENTATION"]
