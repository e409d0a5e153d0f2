"""SA-DARTS (smooth activation, Eq. 8) on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS plus the smooth-activation regulariser on alpha's
logits in its default special case, Eq. 8 (a = 1): ``lambda_t * sum alpha``,
with lambda_t growing linearly with the epoch as ``epoch / 5`` (the schedule
``slope=0.2`` per epoch from 0: 9.8 at the last of 50 epochs; ``--config.epochs``
and ``runlocal`` keep the slope). SA runs switch alpha's coupled L2 off
(weight decay 0). Otherwise as ``darts_1st.py``, whose step follows AutoDL's
DARTS-V1 code: 50 epochs, disjoint 50/50 split, batch 64, SGD Nesterov 0.025
cosine to 0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999).
Softmax is shift-invariant, so Eq. 8 acts through Adam's per-coordinate
scaling of alpha's gradient.

The schedule's form (linear, epoch / 5) is the method's reported one; the
search length and optimiser settings are the NAS-Bench-201 DARTS protocol.

Launch:
  python -m nasjax.search --config=configs/nb201/sa_darts.py --workdir=runs/nb201_sa_darts
  python -m nasjax.search --config=configs/nb201/sa_darts.py:runlocal --workdir=/tmp/sa_darts
"""

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(name="nb201", channels=16, cells_per_stage=5, num_classes=10)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of CIFAR-10's training set.
  config.epochs = 50
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
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), no L2 (SA runs switch it off), init 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=0.0, init_std=1e-3)
  # SA (Eq. 8) on alpha's logits, a=1.0, mu=0.0; lambda_t = epoch / 5 (0.2 per epoch from 0).
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
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
