"""DrNAS (Dirichlet relaxation) on the DARTS CNN space (CIFAR-10).

Protocol: the DARTS search setting (``darts_1st.py``: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; first order) with DrNAS' relaxation: op weights are
reparameterised samples of Dir(ELU(theta) + 1) in training and its mean in
evaluation and for the genotype; theta by Adam lr 6e-4 (0.5, 0.999) with
DrNAS' 'l2' regulariser, a coupled L2 of 1e-3. DrNAS' progressive
partial-channel schedule (op pruning between two stages) is not part of
this config; add ``--config.space.partial_channels=K`` for partial channels.

Variants (comma-separated after the colon):
  kl        DrNAS' 'kl' regulariser instead: 1e-3 * sum_e KL(Dir(ELU(theta_e)
            + 1) || Dir(1)) (strength a default chosen here), no L2.
  runlocal  a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/darts/drnas.py --workdir=runs/darts_drnas
  python -m nasjax.search --config=configs/darts/drnas.py:runlocal --workdir=/tmp/darts_drnas
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
  variants = parse_variants(arg, ("runlocal", "kl"))
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
  # Alpha: Adam lr 6e-4 (DrNAS'), betas (0.5, 0.999), L2 1e-3 on theta ('l2') or none ('kl').
  config.optimizer.alpha.update(
    lr=6e-4, b1=0.5, b2=0.999, weight_decay=0.0 if "kl" in variants else 1e-3, init_std=1e-3
  )
  # DrNAS' Dirichlet relaxation; with 'kl', 1e-3 * KL(Dir(ELU(theta) + 1) || Dir(1)) per edge.
  config.relaxation = relaxation_config("dirichlet")
  if "kl" in variants:
    config.regularizers.dirichlet_kl.update(enabled=True, schedule="constant", strength=1e-3)
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
