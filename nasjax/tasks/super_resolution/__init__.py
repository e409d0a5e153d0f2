"""Super-resolution: HR/LR patch data, Y-channel PSNR / SSIM, retraining and evaluation."""

from nasjax.tasks.super_resolution.task import SUPER_RESOLUTION

__all__ = ["SUPER_RESOLUTION"]
