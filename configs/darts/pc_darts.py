"""PC-DARTS on the DARTS CNN space (CIFAR-10).

Protocol (PC-DARTS' published CIFAR-10 setting): first-order DARTS on the
DARTS space with partial channel connections, K=4 (a quarter of each edge's
channels goes through the mixed op, the rest bypasses it, then a channel
shuffle) and edge normalisation (per-node softmax weights beta over the
incoming edges, optimised with alpha and used when ranking edges for the
genotype); batch 256; weights: SGD momentum 0.9, lr 0.1 cosine to 0, wd 3e-4,
clip 5; alpha: Adam 6e-4, betas (0.5, 0.999), L2 1e-3, frozen for the first
15 of 50 epochs (weights only during the warm-up). C=16, 8 cells, disjoint
50/50 split as DARTS.

Launch:
  python -m nasjax.search --config=configs/darts/pc_darts.py --workdir=runs/pc_darts
  python -m nasjax.search --config=configs/darts/pc_darts.py:runlocal --workdir=/tmp/pc_darts

``runlocal`` keeps K=4 on a 3-cell C=8 supernet and shortens the warm-up to
the first of its 2 epochs.
"""

from nasjax.config.protocols import darts_protocol, pc_darts_protocol, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = pc_darts_protocol(darts_protocol(search_config()))
  if "runlocal" in variants:
    runlocal_darts(config)
    config.optimizer.alpha.warmup_epochs = 1
  return config
