"""DARTS+PT (fix alpha) on the DARTS CNN space (CIFAR-10): the search half.

Protocol (darts-PT, Wang et al., ICLR 2021): DARTS' search setting (50
epochs, batch 64 per half on disjoint CIFAR-10 halves, C=16, 8 cells; SGD
momentum 0.9, lr 0.025 cosine to 0.001, weight decay 3e-4, clipping 5) with
alpha uniform (all logits 0) and never updated. Perturbation-based selection
then decides one normal and one reduction edge per round, and finally keeps
two inputs per node, fine-tuning 5 epochs between decisions.

Launch:
  python -m nasjax.search --config=configs/darts/darts_pt_fix_alpha.py --workdir=runs/dpt_fix
  python -m nasjax.select --workdir=runs/dpt_fix --method=pt
  python -m nasjax.search --config=configs/darts/darts_pt_fix_alpha.py:runlocal --workdir=/tmp/dptf
  python -m nasjax.select --workdir=/tmp/dptf --method=pt --config.pt.proj_interval=1

``runlocal`` trains a 3-cell supernet (C=8) on the CIFAR-10 subset in
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
  # Alpha: uniform (all logits 0) and never updated: only the weights train.
  config.optimizer.alpha.update(
    lr=3e-4,
    b1=0.5,
    b2=0.999,
    weight_decay=1e-3,
    init_std=0.0,
    init_offset=0.0,
    init_bias=0.0,
    frozen=True,
  )
  # No regulariser.
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
