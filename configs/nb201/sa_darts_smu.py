"""SA-DARTS with the general smooth activation (Eq. 7) on NAS-Bench-201 (CIFAR-10).

Protocol: as ``sa_darts.py`` (first-order DARTS with AutoDL's DARTS-V1 step,
50 epochs, disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to
0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999) without alpha L2; lambda_t =
epoch / 5, a slope of 0.2 per epoch whatever the epochs), with Eq. 7:
``[(1+a) alpha + (1-a) alpha erf(mu (1-a) alpha)] / 2`` summed over ops and
edges, a = 0.25 and mu = 1e6 (a leaky ReLU of slope 0.25 in effect). The
paper's NAS-Bench-201 ablation found a = 0.25 or 0.75 with mu = 1e6 equally
good; choose with ``--config.regularizers.sa.a=0.75``.

Launch:
  python -m nasjax.search --config=configs/nb201/sa_darts_smu.py --workdir=runs/nb201_sa_smu
  python -m nasjax.search --config=configs/nb201/sa_darts_smu.py:runlocal --workdir=/tmp/sa_smu
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
  # SA (Eq. 7) on alpha's logits, a=0.25, mu=1000000.0; lambda_t = epoch / 5 (0.2 per epoch from 0).
  config.regularizers.sa.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=0.2,
    strength=0.0,
    ramp_epochs=0,
    a=0.25,
    mu=1000000.0,
    apply_to="logits",
    reduction="sum",
  )
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
