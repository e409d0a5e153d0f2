"""The trellis search with a constant entropy penalty on alpha and beta.

:file:`search_darts.py` plus ``lambda * sum_rows H(p_row)`` over every row of
the cell alpha and of the network-level beta, lambda = 0.1 throughout (a
default chosen here; the single-stage paper's values are not public). Set the
strength with ``--config.regularizers.entropy.strength=...`` and restrict the
penalty to alpha with ``--config.regularizers.entropy.tensors='("cell",)'``
or to beta with ``'("network2", "network3")'``.

Variants: ``camvid``, ``runlocal`` (see :file:`search_darts.py`).

Launch:
  python -m nasjax.search --config=configs/seg/search_entropy_const.py --workdir=runs/seg_ent_c
  python -m nasjax.search --config=configs/seg/search_entropy_const.py:runlocal \\
      --workdir=/tmp/seg_ent_c
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
  # The entropy of alpha's and beta's rows, lambda 0.1 throughout (a default chosen here).
  config.regularizers.entropy.update(
    enabled=True,
    schedule="constant",
    start=0.0,
    strength=0.1,
    ramp_epochs=0,
    apply_to="probs",
    reduction="sum",
  )
  if "camvid" in variants:  # CamVid's 11 classes from $NASJAX_DATA_DIR/seg/camvid
    camvid(config)
  if "runlocal" in variants:  # a 3-layer trellis over 64-pixel CamVid crops, two short epochs
    runlocal(config)
  return config
