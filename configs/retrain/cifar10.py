r"""Retraining a DARTS genotype on CIFAR-10 (DARTS' evaluation protocol).

Protocol (Liu et al. 2019, arXiv 1806.09055, Sec. 3.3): the derived cells in
a 20-cell network of C=36 (reduction cells at 1/3 and 2/3 of the depth) with
an auxiliary head after cell 13 (loss weight 0.4); 600 epochs on the full
50,000-image training set, batch 96; SGD, momentum 0.9, lr 0.025 cosine to 0
(per epoch), weight decay 3e-4, gradient clipping 5; drop path growing
linearly to 0.2; random crop (padding 4), horizontal flip and cutout 16.
DARTS-V2 in this setting has 3.3M parameters (3.349M without the auxiliary
head) and a 2.76 +/- 0.09% test error in the paper.

Variants: ``cifar100`` (CIFAR-100, 100 classes) and ``svhn`` (tfds'
``svhn_cropped``; same protocol), the datasets RobustDARTS evaluates on;
``runlocal`` (a C=8, 5-cell network for 2 epochs of 8 steps on the CIFAR-10
subset in $NASJAX_DATA_DIR; a minute or two on a 2-core CPU).

Launch (``--genotype``: a published name, or a search's genotype.json):
  python -m nasjax.retrain --config=configs/retrain/cifar10.py \
      --genotype=DARTS_V2 --workdir=runs/darts_v2_cifar10
  python -m nasjax.retrain --config=configs/retrain/cifar10.py:cifar100 \
      --genotype=runs/darts/genotype.json --workdir=runs/darts_eval_c100
  python -m nasjax.retrain --config=configs/retrain/cifar10.py:runlocal \
      --genotype=DARTS_V2 --workdir=/tmp/retrain
"""

from nasjax.config import parse_variants, retrain_config
from nasjax.config.retrain import runlocal
from nasjax.errors import ConfigError


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "cifar100", "svhn"))
  if {"cifar100", "svhn"} <= variants:
    raise ConfigError("choose one dataset variant: cifar100 or svhn")
  config = retrain_config()
  # 20 cells of C=36 (reductions at 1/3 and 2/3), auxiliary head (weight 0.4), drop path to 0.2.
  config.network.update(
    name="cifar", channels=36, layers=20, auxiliary=True, aux_weight=0.4, drop_path_prob=0.2
  )
  # 600 epochs of batch 96 on the whole training set; crop (padding 4), flip, cutout 16.
  config.epochs = 600
  config.batch_size = 96
  config.data.augment.update(crop_padding=4, flip=True, cutout=16)
  # SGD momentum 0.9, lr 0.025 cosine to 0 per epoch, wd 3e-4, clip 5.
  config.optimizer.update(
    lr=0.025, lr_min=0.0, schedule="cosine", momentum=0.9, weight_decay=3e-4, grad_clip=5.0
  )
  if "cifar100" in variants:
    config.data.name = "cifar100"
    config.network.num_classes = 100
  if "svhn" in variants:
    config.data.name = "svhn"
  if "runlocal" in variants:
    if variants - {"runlocal"}:
      raise ConfigError("runlocal reads the CIFAR-10 subset; use it without cifar100 or svhn")
    config = runlocal(config)
  return config
