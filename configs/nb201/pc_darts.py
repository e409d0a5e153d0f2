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

from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = nb201_protocol(search_config())
  config.hypergradient = "first_order"
  config.space.update(partial_channels=4, edge_normalization=True)
  config.optimizer.alpha.update(lr=6e-4, weight_decay=1e-3, warmup_epochs=15)
  if "runlocal" in variants:
    runlocal(config)
    config.optimizer.alpha.warmup_epochs = 1
  return config
