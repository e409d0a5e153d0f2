"""Train a searched super-resolution network from scratch (IMDN's protocol, x2 DIV2K).

Protocol: L1 loss; Adam (0.9, 0.999), lr 2e-4 halved every 200 epochs; 16
random LR patches of 64x64 (HR 128 at x2) with flips and 90-degree rotations;
1000 epochs of 1000 steps (the epoch length is a choice made here); the
network of the genotype at the space's full size (IMDN: 64 features, 6
blocks). ``--genotype=IMDN`` trains the original IMDN.

Variants: ``dlsr`` (the DLSR space's network; default IMDN's), ``x3``, ``x4``
(scale), ``runlocal`` (a few steps on Set14 patches at the runlocal search size,
evaluated on Set5 crops: pair it with a runlocal search's genotype).

Launch:
  python -m nasjax.sr_retrain --config=configs/sr/retrain.py --genotype=IMDN --workdir=runs/imdn
  python -m nasjax.sr_retrain --config=configs/sr/retrain.py:runlocal \\
      --genotype=/tmp/sr_imdn_sa/genotype.json --workdir=/tmp/sr_retrain
"""

from nasjax.config import parse_variants, sr_retrain_config
from nasjax.config.sr import retrain_runlocal


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "dlsr", "x3", "x4"))
  scale = 3 if "x3" in variants else 4 if "x4" in variants else 2
  # The space block of the genotype's space (IMDN's sizes, or DLSR's), x``scale``.
  config = sr_retrain_config("dlsr" if "dlsr" in variants else "imdn", scale)
  # IMDN's protocol: 1000 epochs of 1000 steps, 16 LR patches of 64x64 (HR 64 * scale).
  config.epochs = 1000
  config.batch_size = 16
  config.data.update(patch_size=64 * scale, eval_patch_size=64 * scale)
  # L1 loss; Adam (0.9, 0.999), lr 2e-4 halved every 200 epochs, no decay, no clipping.
  config.optimizer.update(
    name="adam", lr=2e-4, halve_every=200, b1=0.9, b2=0.999, weight_decay=0.0, grad_clip=0.0
  )
  if "runlocal" in variants:  # 4 epochs of 50 steps on Set14 patches at lr 1e-3, halved each epoch
    retrain_runlocal(config)
  return config
