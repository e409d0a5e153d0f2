"""DARTS, first order, on the DARTS CNN space (CIFAR-10).

Protocol (DARTS' published search setting): 50 epochs; the CIFAR-10 training
set split 50/50 into disjoint weight and alpha halves (seeded); batch 64 per
half; the DARTS space (8 ops, C=16, 8 cells with reductions at 1/3 and 2/3,
4 nodes per cell, normal and reduction alphas); weights: SGD momentum 0.9,
lr 0.025 cosine to 0.001 (per epoch), weight decay 3e-4, gradient clipping 5;
alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised
1e-3 * N(0, 1). The genotype keeps the top-2 inputs of every node (argmax
op excluding ``none``).

Code followed: DARTS' own (github quark0/darts, ``train_search.py`` and
``architect.py``; :func:`nasjax.config.quark0_step`): the alpha update
first, then the weight update with the new alpha; clipping over the weight
gradients alone; convolutions without bias; search-cell BNs without running
statistics; the stem BN's statistics updated by both updates' forwards.

Launch:
  python -m nasjax.search --config=configs/darts/darts_1st.py --workdir=runs/darts_1st
  python -m nasjax.search --config=configs/darts/darts_1st.py:runlocal --workdir=/tmp/darts_1st

``runlocal`` searches a 3-cell supernet (C=8) on the CIFAR-10 subset in
$NASJAX_DATA_DIR for a few CPU minutes.
"""

from nasjax.config import darts_space, parse_variants, quark0_step, runlocal_darts, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The DARTS CNN space, its 8 ops on every edge: C=16, 8 cells (reductions at
  # 1/3 and 2/3), 4 nodes per cell.
  config.space = darts_space("darts", num_classes=10)
  config.space.update(channels=16, layers=8, steps=4)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of the training set; no cutout.
  config.epochs = 50
  config.batch_size = 64
  config.data.augment.cutout = 0
  config.hypergradient = "first_order"
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
