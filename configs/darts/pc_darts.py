"""PC-DARTS on the DARTS CNN space (CIFAR-10).

Protocol (PC-DARTS' published CIFAR-10 setting): first-order DARTS on the
DARTS space with partial channel connections, K=4 (a quarter of each edge's
channels goes through the mixed op, the rest bypasses it, then a channel
shuffle) and edge normalisation (per-node softmax weights beta over the
incoming edges, optimised with alpha and used when ranking edges for the
genotype); batch 256; weights: SGD momentum 0.9, lr 0.1 cosine to 0, wd 3e-4,
clip 5; alpha: Adam 6e-4, betas (0.5, 0.999), L2 1e-3, frozen for the first
15 of 50 epochs (weights only during the warm-up). C=16, 8 cells, disjoint
50/50 split as DARTS.

Launch:
  python -m nasjax.search --config=configs/darts/pc_darts.py --workdir=runs/pc_darts
  python -m nasjax.search --config=configs/darts/pc_darts.py:runlocal --workdir=/tmp/pc_darts

``runlocal`` keeps K=4 on a 3-cell C=8 supernet and shortens the warm-up to
the first of its 2 epochs.
"""

from nasjax.config import darts_space, parse_variants, quark0_step, runlocal_darts, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The DARTS CNN space, its 8 ops on every edge: C=16, 8 cells (reductions at
  # 1/3 and 2/3), 4 nodes per cell; partial channels K=4, edge normalisation.
  config.space = darts_space("darts", num_classes=10)
  config.space.update(channels=16, layers=8, steps=4, partial_channels=4, edge_normalization=True)
  # 50 epochs, batch 256 per half of the disjoint 50/50 split of the training set; no cutout.
  config.epochs = 50
  config.batch_size = 256
  config.data.augment.cutout = 0
  config.hypergradient = "first_order"
  # Weights: SGD momentum 0.9, lr 0.1 cosine to 0, wd 3e-4, clip 5.
  config.optimizer.weights.update(
    name="sgd", lr=0.1, lr_min=0.0, momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0
  )
  # Alpha: Adam lr 6e-4, betas (0.5, 0.999), L2 1e-3, init 1e-3 * N(0, 1), fixed for 15 epochs.
  config.optimizer.alpha.update(
    lr=6e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3, warmup_epochs=15
  )
  # No regulariser; edge normalisation's betas train with alpha.
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
    config.optimizer.alpha.warmup_epochs = 1
  return config
