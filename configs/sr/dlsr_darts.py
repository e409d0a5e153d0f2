"""DARTS (first order) on the DLSR space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.dlsr_protocol`, the settings of DLSR's public
code (L1 loss; Adam 5e-4 for the weights; Adam 3e-4, betas (0.5, 0.999) for
alpha from epoch 20 on; a quarter of the DIV2K training images trains alpha,
the rest the weights (the code: images 601-800 and 1-600); 64 HR patches of 192
pixels; 100 epochs of 1000 steps, a length chosen here) plus plain first-order
DARTS on both levels (cell ops and network connections): no regulariser.

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/dlsr_darts.py --workdir=runs/sr_dlsr_darts
  python -m nasjax.search --config=configs/sr/dlsr_darts.py:runlocal \\
      --workdir=/tmp/sr_dlsr_darts
"""

from nasjax.config import parse_variants, sr_search_config
from nasjax.config.sr import runlocal


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "x3", "x4"))
  scale = 3 if "x3" in variants else 4 if "x4" in variants else 2
  # The x``scale`` SR data (DIV2K through tensorflow-datasets) and the dlsr space's block.
  config = sr_search_config("dlsr", scale)
  # The DLSR space: 6 RFDN-style cells of 48 features, three searched ops per cell over the
  # 9 candidates, and the two earlier cells each cell reads.
  config.space.update(features=48, num_cells=6)
  # DLSR's public code: 100 epochs (its lr halvings replaced by a cosine, a choice made here) of
  # 1000 steps, 64 HR patches of 192 pixels; images 1-600 train the weights, 601-800 alpha.
  config.epochs = 100
  config.batch_size = 64
  config.data.update(patch_size=192, split_policy="ratio", split_ratio=0.75)
  config.hypergradient = "first_order"
  # Weights: Adam (0.9, 0.999), lr 5e-4 cosine to 1e-5, decay 1e-8, no clipping.
  config.optimizer.weights.update(
    name="adam", lr=5e-4, lr_min=1e-5, b1=0.9, b2=0.999, weight_decay=1e-8, grad_clip=0.0
  )
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), decay 1e-8, updated from epoch 20 on.
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-8, warmup_epochs=20)
  # No regulariser.
  if "runlocal" in variants:  # a few steps on Set14 patches, evaluated on Set5 crops
    runlocal(config)
  return config
