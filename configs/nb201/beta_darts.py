"""Beta-DARTS on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS with the beta-decay regulariser
``lambda_t * mean_e logsumexp(alpha_e)`` on alpha's logits, lambda_t rising
linearly from 0 as in Beta-DARTS' code, ``50 * epoch / 100`` (the schedule
``slope=0.5`` per epoch, which ``--config.epochs`` and ``runlocal`` keep),
over a 100-epoch search (the Beta-DARTS / darts-PT / DrNAS NAS-Bench-201
length). Everything else as ``darts_1st.py``, whose step follows AutoDL's
DARTS-V1 code: disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to
0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999) with L2 1e-3 for alpha.

Launch:
  python -m nasjax.search --config=configs/nb201/beta_darts.py --workdir=runs/nb201_beta_darts
  python -m nasjax.search --config=configs/nb201/beta_darts.py:runlocal --workdir=/tmp/beta_darts
"""

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(name="nb201", channels=16, cells_per_stage=5, num_classes=10)
  # 100 epochs, batch 64 per half of the disjoint 50/50 split of CIFAR-10's training set.
  config.epochs = 100
  config.batch_size = 64
  config.data.name = "cifar10"
  config.hypergradient = "first_order"
  # Weights: SGD, Nesterov momentum 0.9, lr 0.025 cosine to 0.001, wd 5e-4, clip 5.
  config.optimizer.weights.update(
    name="sgd",
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
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
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
