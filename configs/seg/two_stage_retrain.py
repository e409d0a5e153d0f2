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

from nasjax.config.seg import seg_retrain_config


def get_config(arg=None):
  return seg_retrain_config(arg)
