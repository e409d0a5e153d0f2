"""SNAS + SA: the Gumbel-softmax relaxation with the smooth-activation regulariser (DARTS space).

Protocol: ``snas.py`` (the DARTS search setting: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999); Gumbel-softmax samples, tau 1.0 to
0.03 exponentially) plus the smooth-activation regulariser on alpha's logits,
Eq. 8 (``lambda_t * sum alpha``, lambda_t = epoch / 5), with alpha's coupled
L2 switched off as SA runs do.

Launch:
  python -m nasjax.search --config=configs/darts/snas_sa.py --workdir=runs/darts_snas_sa
  python -m nasjax.search --config=configs/darts/snas_sa.py:runlocal --workdir=/tmp/darts_snas_sa
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
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), no L2 (SA runs switch it off), init 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=0.0, init_std=1e-3)
  # SNAS' Gumbel-softmax: samples at a temperature annealed from 1.0 to 0.03 (exponentially).
  config.relaxation = relaxation_config(
    "gumbel", tau_start=1.0, tau_end=0.03, schedule="exponential", hard=False
  )
  # SA (Eq. 8) on alpha's logits, a=1, mu=0; lambda_t = epoch / 5 (0.2 per epoch from 0).
  config.regularizers.sa.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=0.2,
    strength=0.0,
    ramp_epochs=0,
    a=1.0,
    mu=0.0,
    apply_to="logits",
    reduction="sum",
  )
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
