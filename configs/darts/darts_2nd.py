"""DARTS, second order, on the DARTS CNN space (CIFAR-10).

Protocol: as ``darts_1st.py`` (DARTS' published setting: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha), with the
second-order hypergradient computed exactly: alpha's gradient is
differentiated through the unrolled weight step ``w' = w - xi (momentum
buffer + grad + wd w)``, xi the current weight lr.

Code followed: DARTS' own (github quark0/darts, ``train_search.py`` and
``architect.py``; :func:`nasjax.config.protocols.darts_protocol`): the alpha update
first, then the weight update with the new alpha; clipping over the weight
gradients alone; convolutions without bias; search-cell BNs without running
statistics; the stem BN's statistics updated by both updates' forwards (second
order: the alpha update's forward on the training batch at the current
weights, as DARTS' unrolling does; its finite-difference forwards at
w +- eps v also update them there, not here).

Variants (comma-separated after the colon):
  fd        DARTS' finite-difference form (eps = 0.01 / ||v||), as the
            published DARTS (2nd order) result was searched.
  runlocal  a 3-cell supernet on the CIFAR-10 subset (about 15 minutes on a
            2-core CPU: the second-order step compiles and runs longer).

Launch:
  python -m nasjax.search --config=configs/darts/darts_2nd.py --workdir=runs/darts_2nd
  python -m nasjax.search --config=configs/darts/darts_2nd.py:fd --workdir=runs/darts_2nd_fd
  python -m nasjax.search --config=configs/darts/darts_2nd.py:runlocal --workdir=/tmp/darts_2nd
"""

from nasjax.config.protocols import darts_protocol, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "fd"))
  config = darts_protocol(search_config())
  config.hypergradient = "second_order_fd" if "fd" in variants else "second_order_exact"
  return runlocal_darts(config) if "runlocal" in variants else config
