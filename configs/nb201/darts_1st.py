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
(:func:`nasjax.config.protocols.nb201_protocol`, checked against that code's
outputs in ``tests/test_autodl_golden.py``).

Launch:
  python -m nasjax.search --config=configs/nb201/darts_1st.py --workdir=runs/nb201_darts_1st
  python -m nasjax.search --config=configs/nb201/darts_1st.py:runlocal --workdir=/tmp/darts_1st

``runlocal`` runs a small supernet on the CIFAR-10 subset in $NASJAX_DATA_DIR
and finishes in about a minute on a 2-core CPU.
"""

from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = nb201_protocol(search_config())
  config.hypergradient = "first_order"
  return runlocal(config) if "runlocal" in variants else config
