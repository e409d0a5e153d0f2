"""SAC-DARTS (smooth activation + partial channels) on the DARTS CNN space (CIFAR-10).

Protocol: PC-DARTS (``pc_darts.py``: K=4 partial channels with edge
normalisation, batch 256, SGD 0.1 cosine to 0, momentum 0.9, wd 3e-4,
clip 5; Adam 6e-4 (0.5, 0.999) for alpha, alpha frozen for the first 15 of 50
epochs; C=16, 8 cells) plus the smooth-activation regulariser (Eq. 8,
``lambda_t * sum alpha`` with lambda_t = epoch / 5) on the OP logits only
(the edge-normalisation weights beta are not regularised), with alpha's
coupled L2 switched off as SA runs do.

Launch:
  python -m nasjax.search --config=configs/darts/sac_darts.py --workdir=runs/darts_sac
  python -m nasjax.search --config=configs/darts/sac_darts.py:runlocal --workdir=/tmp/darts_sac
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
  # Alpha: Adam lr 6e-4, betas (0.5, 0.999), no L2 (SA's), init 1e-3 * N(0, 1), fixed for 15 epochs.
  config.optimizer.alpha.update(
    lr=6e-4, b1=0.5, b2=0.999, weight_decay=0.0, init_std=1e-3, warmup_epochs=15
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
    config.optimizer.alpha.warmup_epochs = 1
  return config
