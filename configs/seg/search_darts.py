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

from nasjax.config import parse_variants, seg_search_config
from nasjax.config.seg import VARIANTS, camvid, runlocal


def get_config(arg=None):
  variants = parse_variants(arg, VARIANTS)
  # Cityscapes through tensorflow-datasets (19 classes, 321-pixel crops), the trellis block, the
  # discretisation gap every epoch on 100 images of the alpha half.
  config = seg_search_config()
  # The trellis: 12 layers over 4 levels (1/4 .. 1/32), cells of 5 blocks over the DARTS ops,
  # filter multiplier 8 (Auto-DeepLab's search sizes).
  config.space.update(layers=12, levels=4, blocks=5, filter_multiplier=8)
  # 40 epochs, 2 crops per half of the disjoint 50/50 split (Auto-DeepLab).
  config.epochs = 40
  config.batch_size = 2
  config.hypergradient = "first_order"
  # Weights: SGD momentum 0.9, lr 0.025 cosine to 0.001, wd 3e-4 (Auto-DeepLab), clip 5 (DARTS').
  config.optimizer.weights.update(
    name="sgd",
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    nesterov=False,
    weight_decay=3e-4,
    grad_clip=5.0,
  )
  # Cell alpha and network beta: Adam lr 3e-3, betas (0.9, 0.999), wd 1e-3, from epoch 20 on.
  config.optimizer.alpha.update(lr=3e-3, b1=0.9, b2=0.999, weight_decay=1e-3, warmup_epochs=20)
  # No regulariser.
  if "camvid" in variants:  # CamVid's 11 classes from $NASJAX_DATA_DIR/seg/camvid
    camvid(config)
  if "runlocal" in variants:  # a 3-layer trellis over 64-pixel CamVid crops, two short epochs
    runlocal(config)
  return config
