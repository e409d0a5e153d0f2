"""Beta-DARTS on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS with the beta-decay regulariser
``lambda_t * mean_e logsumexp(alpha_e)`` on alpha's logits, lambda_t rising
linearly from 0 as in Beta-DARTS' code, ``50 * epoch / 100`` (the schedule
``slope=0.5`` per epoch, which ``--config.epochs`` and ``runlocal`` keep),
over a 100-epoch search (the Beta-DARTS / darts-PT / DrNAS NAS-Bench-201
length). Everything else as ``darts_1st.py``, whose step follows AutoDL's
DARTS-V1 code: disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to
0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999) with L2 1e-3 for alpha.

Launch:
  python -m nasjax.search --config=configs/nb201/beta_darts.py --workdir=runs/nb201_beta_darts
  python -m nasjax.search --config=configs/nb201/beta_darts.py:runlocal --workdir=/tmp/beta_darts
"""

from nasjax.config.protocols import beta_darts_protocol, nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = beta_darts_protocol(nb201_protocol(search_config()))  # lambda_t = 0.5 * epoch
  config.epochs = 100
  return runlocal(config) if "runlocal" in variants else config
