"""Image classification: CIFAR-10/100 and SVHN search data, ImageNet, retraining DARTS networks."""

from nasjax.tasks.classification.task import CLASSIFICATION

__all__ = ["CLASSIFICATION"]
