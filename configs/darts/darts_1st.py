"""DARTS, first order, on the DARTS CNN space (CIFAR-10).

Protocol (DARTS' published search setting): 50 epochs; the CIFAR-10 training
set split 50/50 into disjoint weight and alpha halves (seeded); batch 64 per
half; the DARTS space (8 ops, C=16, 8 cells with reductions at 1/3 and 2/3,
4 nodes per cell, normal and reduction alphas); weights: SGD momentum 0.9,
lr 0.025 cosine to 0.001 (per epoch), weight decay 3e-4, gradient clipping 5;
alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised
1e-3 * N(0, 1). The genotype keeps the top-2 inputs of every node (argmax
op excluding ``none``).

Code followed: DARTS' own (github quark0/darts, ``train_search.py`` and
``architect.py``; :func:`nasjax.config.protocols.darts_protocol`): the alpha update
first, then the weight update with the new alpha; clipping over the weight
gradients alone; convolutions without bias; search-cell BNs without running
statistics; the stem BN's statistics updated by both updates' forwards.

Launch:
  python -m nasjax.search --config=configs/darts/darts_1st.py --workdir=runs/darts_1st
  python -m nasjax.search --config=configs/darts/darts_1st.py:runlocal --workdir=/tmp/darts_1st

``runlocal`` searches a 3-cell supernet (C=8) on the CIFAR-10 subset in
$NASJAX_DATA_DIR for a few CPU minutes.
"""

from nasjax.config.protocols import darts_protocol, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = darts_protocol(search_config())
  config.hypergradient = "first_order"
  return runlocal_darts(config) if "runlocal" in variants else config
