"""PC-DARTS (partial channels + edge normalisation) on the NAS-Bench-201 space (CIFAR-10).

Protocol: NAS-Bench-201's first-order DARTS search (``darts_1st.py``: 50
epochs, disjoint 50/50 split, batch 64, C=16, N=5; SGD Nesterov 0.025 cosine
to 0.001, wd 5e-4, clip 5) with PC-DARTS' supernet and architecture
optimiser: K=4 (a quarter of each edge's input channels goes through the
mixed op, the rest bypasses it, then a channel shuffle), edge normalisation
(per-node softmax weights beta over the incoming edges, updated with alpha),
alpha and beta by Adam lr 6e-4, betas (0.5, 0.999), coupled L2 1e-3, frozen
for the first 15 of the 50 epochs (weights only during the warm-up). The
architecture settings are PC-DARTS' published CIFAR-10 ones; keeping the
NAS-Bench-201 batch (64) and weight learning rate rather than PC-DARTS'
DARTS-space batch 256 and lr 0.1 is a choice made here.

Launch:
  python -m nasjax.search --config=configs/nb201/pc_darts.py --workdir=runs/nb201_pc_darts
  python -m nasjax.search --config=configs/nb201/pc_darts.py:runlocal --workdir=/tmp/pc_darts
"""

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(
    name="nb201",
    channels=16,
    cells_per_stage=5,
    num_classes=10,
    partial_channels=4,
    edge_normalization=True,
  )
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
  # Alpha: Adam lr 6e-4, betas (0.5, 0.999), L2 1e-3, init 1e-3 * N(0, 1), fixed for 15 epochs.
  config.optimizer.alpha.update(
    lr=6e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3, warmup_epochs=15
  )
  # No regulariser; edge normalisation's betas train with alpha.
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  if "runlocal" in variants:
    runlocal(config)
    config.optimizer.alpha.warmup_epochs = 1
  return config
