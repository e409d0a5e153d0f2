"""Beta-DARTS on the DARTS CNN space (CIFAR-10).

Protocol: first-order DARTS (``darts_1st.py``: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3) plus the beta-decay
regulariser ``lambda_t * mean_e logsumexp(alpha_e)`` on the logits of both
cells, lambda_t = 50 * epoch / 100 as in Beta-DARTS' code (``slope=0.5`` per
epoch from 0, 24.5 at the last of 50 epochs; ``--config.epochs`` and
``runlocal`` keep the slope). The step follows DARTS' code as ``darts_1st.py``.

Launch:
  python -m nasjax.search --config=configs/darts/beta_darts.py --workdir=runs/darts_beta
  python -m nasjax.search --config=configs/darts/beta_darts.py:runlocal --workdir=/tmp/darts_beta
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
  # Beta-decay on alpha's logits, lambda_t = 50 * epoch / 100 (0.5 per epoch from 0).
  config.regularizers.beta_decay.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=0.5,
    strength=0.0,
    ramp_epochs=0,
    apply_to="logits",
  )
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
