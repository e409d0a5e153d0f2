"""Beta-DARTS on the DARTS CNN space (CIFAR-10).

Protocol: first-order DARTS (``darts_1st.py``: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3) plus the beta-decay
regulariser ``lambda_t * mean_e logsumexp(alpha_e)`` on the logits of both
cells, lambda_t = 50 * epoch / 100 as in Beta-DARTS' code (``slope=0.5`` per
epoch from 0, 24.5 at the last of 50 epochs; ``--config.epochs`` and
``runlocal`` keep the slope). The step follows DARTS' code as ``darts_1st.py``.

Launch:
  python -m nasjax.search --config=configs/darts/beta_darts.py --workdir=runs/darts_beta
  python -m nasjax.search --config=configs/darts/beta_darts.py:runlocal --workdir=/tmp/darts_beta
"""

from nasjax.config.protocols import beta_darts_protocol, darts_protocol, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = beta_darts_protocol(darts_protocol(search_config()))  # lambda_t = 0.5 * epoch
  return runlocal_darts(config) if "runlocal" in variants else config
