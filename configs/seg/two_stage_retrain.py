"""The two-stage read-out: the decoded trellis network trained from scratch.

Decode the search (``python -m nasjax.select --method=argmax``: the Viterbi
path of beta and the argmax cell), then train that network from freshly
initialised weights (:func:`nasjax.config.seg.seg_retrain_config`: SGD 0.05
with the poly schedule, power 0.9, momentum 0.9, wd 1e-4, batch 8 of random
rescaled crops with flips, 100 epochs -- defaults chosen here after
DeepLab's poly policy) and evaluate mIoU on the whole validation images.

Variants: ``camvid``, ``runlocal`` (4 epochs of 8 steps on CamVid crops).

Launch:
  python -m nasjax.select --workdir=runs/seg_darts --method=argmax
  python -m nasjax.seg_retrain --config=configs/seg/two_stage_retrain.py \\
      --genotype=runs/seg_darts/select/argmax/selection.json --workdir=runs/seg_two_stage
  python -m nasjax.seg_retrain --config=configs/seg/two_stage_retrain.py:runlocal \\
      --genotype=/tmp/seg/genotype.json --workdir=/tmp/seg_two_stage
"""

from nasjax.config import parse_variants, seg_retrain_config
from nasjax.config.seg import VARIANTS, camvid, runlocal


def get_config(arg=None):
  variants = parse_variants(arg, VARIANTS)
  # Cityscapes crops of the whole training set; the trellis block (--genotype picks path and cell).
  config = seg_retrain_config()
  config.space.update(layers=12, levels=4, blocks=5, filter_multiplier=8)
  # 100 epochs of batch 8 (defaults chosen here; Auto-DeepLab's retraining batch).
  config.epochs = 100
  config.batch_size = 8
  # SGD momentum 0.9, lr 0.05 with the poly schedule (power 0.9), wd 1e-4, no clipping.
  config.optimizer.update(
    name="sgd", lr=0.05, power=0.9, momentum=0.9, nesterov=False, weight_decay=1e-4, grad_clip=0.0
  )
  if "camvid" in variants or "runlocal" in variants:
    camvid(config)
  if "runlocal" in variants:  # 4 epochs of 8 steps of 4 CamVid crops, lr 0.02
    runlocal(config)
    config.data.steps_per_epoch = 8
    config.epochs = 4
    config.batch_size = 4
    config.optimizer.lr = 0.02
  return config
