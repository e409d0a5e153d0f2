"""SNAS (Gumbel-softmax relaxation) on the DARTS CNN space (CIFAR-10).

Protocol: the DARTS search setting (``darts_1st.py``: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha, first
order) with SNAS' relaxation: every training forward pass mixes the ops with
a fresh Gumbel-softmax sample ``softmax((alpha + g) / tau_t)``, tau_t
annealed exponentially from 1.0 to 0.03 over the search (defaults chosen
here); evaluation and the genotype use ``softmax(alpha)``. SNAS' own search
length and resource constraint are not reproduced.

Variants (comma-separated after the colon):
  hard      one-hot samples with straight-through gradients (GDAS' form).
  runlocal  a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/darts/snas.py --workdir=runs/darts_snas
  python -m nasjax.search --config=configs/darts/snas.py:runlocal --workdir=/tmp/darts_snas
"""

from nasjax.config import (
  darts_space,
  parse_variants,
  quark0_step,
  relaxation_config,
  runlocal_darts,
  search_config,
)


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "hard"))
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
  # SNAS' Gumbel-softmax: samples at a temperature annealed from 1.0 to 0.03 (exponentially).
  config.relaxation = relaxation_config(
    "gumbel", tau_start=1.0, tau_end=0.03, schedule="exponential", hard="hard" in variants
  )
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
