"""RobustDARTS space S3 on the DARTS cell (CIFAR-10, CIFAR-100 or SVHN).

Space: S3: {none, skip_connect, sep_conv_3x3} on every edge.

Protocol: the DARTS search setting (``configs/darts/darts_1st.py``: 50 epochs,
disjoint 50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001,
momentum 0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3) on the
reduced space, first order by default (a default chosen here; RobustDARTS
reports both orders: use the ``2nd`` or ``fd`` variant).

Variants (comma-separated after the colon):
  cifar100, svhn  search on that dataset's training set (tensorflow-datasets);
                  CIFAR-10 otherwise.
  2nd, fd         second-order hypergradient, exact or DARTS' finite difference.
  runlocal        a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/robust/s3.py --workdir=runs/robust_s3
  python -m nasjax.search --config=configs/robust/s3.py:svhn,2nd --workdir=runs/robust_s3_svhn
  python -m nasjax.search --config=configs/robust/s3.py:runlocal --workdir=/tmp/robust_s3
"""

from nasjax.config import (
  ROBUST_DATASETS,
  darts_space,
  quark0_step,
  robust_variants,
  runlocal_darts,
  search_config,
)


def get_config(arg=None):
  variants, dataset, hypergradient = robust_variants(arg)
  config = search_config()
  # The DARTS CNN space, RobustDARTS' S3 (none, skip, sep 3x3): C=16, 8 cells (reductions at
  # 1/3 and 2/3), 4 nodes per cell.
  config.space = darts_space("s3", num_classes=ROBUST_DATASETS[dataset])
  config.space.update(channels=16, layers=8, steps=4)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of the training set; no cutout.
  config.epochs = 50
  config.batch_size = 64
  config.data.name = dataset  # cifar10, or the cifar100 / svhn variant
  config.data.augment.cutout = 0
  config.hypergradient = hypergradient  # first order, or the 2nd / fd variant
  # Weights: SGD momentum 0.9, lr 0.025 cosine to 0.001, wd 3e-4, clip 5.
  config.optimizer.weights.update(
    name="sgd",
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    nesterov=False,
    weight_decay=3e-4,
    grad_clip=5.0,
  )
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3)
  # No regulariser.
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
