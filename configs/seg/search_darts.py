"""First-order DARTS on the trellis segmentation space (Cityscapes, Auto-DeepLab recipe).

Protocol (:func:`nasjax.config.seg.seg_search_config`; Auto-DeepLab defaults
where the single-stage paper is silent): 12 layers over 4 levels (1/4 to
1/32), cells of 5 blocks over the 8 DARTS ops, filter multiplier 8; 40 epochs
of 321x321 crops (random rescale 0.5-2.0, flips), batch 2 per half, the
training set split 50/50 into disjoint halves; weights SGD 0.025 cosine to
0.001, momentum 0.9, wd 3e-4; alpha and beta Adam 3e-3 (0.9, 0.999), wd
1e-3, updated from epoch 20.

Variants: ``camvid`` (the same recipe on CamVid's 11 classes), ``runlocal``
(a small trellis over 64-pixel CamVid crops, minutes on a 2-core CPU).

Launch:
  python -m nasjax.search --config=configs/seg/search_darts.py --workdir=runs/seg_darts
  python -m nasjax.search --config=configs/seg/search_darts.py:runlocal --workdir=/tmp/seg
"""

from nasjax.config.seg import method_config


def get_config(arg=None):
  return method_config(arg)
