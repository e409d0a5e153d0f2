"""DARTS, first order, on the NAS-Bench-201 space (CIFAR-10).

Protocol (NAS-Bench-201's DARTS-V1 setting): 50 epochs; the CIFAR-10 training
set split 50/50 into disjoint weight and alpha halves (seeded); batch 64 per
half; weights: SGD with Nesterov momentum 0.9, lr 0.025 cosine to 0.001 (per
epoch), weight decay 5e-4, gradient clipping 5; alpha: Adam lr 3e-4, betas
(0.5, 0.999), coupled L2 1e-3, initialised 1e-3 * N(0, 1); C=16, N=5; cell BNs
without affine parameters.

Code followed: AutoDL-Projects' ``exps/NAS-Bench-201-algos/DARTS-V1.py`` (the
code of NAS-Bench-201's DARTS results): the weight update first, then alpha
at the new weights; cell BNs keep running statistics, updated by the
forwards of both updates; clipping over the gradients of all network
parameters, alpha's included; cell convolutions with a bias
(:func:`nasjax.config.autodl_step`, checked against that code's
outputs in ``tests/test_autodl_golden.py``).

Launch:
  python -m nasjax.search --config=configs/nb201/darts_1st.py --workdir=runs/nb201_darts_1st
  python -m nasjax.search --config=configs/nb201/darts_1st.py:runlocal --workdir=/tmp/darts_1st

``runlocal`` runs a small supernet on the CIFAR-10 subset in $NASJAX_DATA_DIR
and finishes in about a minute on a 2-core CPU; ``demo`` is the same size
for 10 epochs with alpha's learning rate x10, so that alpha visibly moves (a
demonstration setting, not the protocol).
"""

from nasjax.config import autodl_step, demo, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "demo"))
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
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3)
  # No regulariser.
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  if "demo" in variants:  # runlocal's size, 10 epochs, alpha lr x10: a demonstration only
    return demo(config)
  return runlocal(config) if "runlocal" in variants else config
