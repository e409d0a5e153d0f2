"""SAC-DARTS (smooth activation + partial channels) on the DARTS CNN space (CIFAR-10).

Protocol: PC-DARTS (``pc_darts.py``: K=4 partial channels with edge
normalisation, batch 256, SGD 0.1 cosine to 0, momentum 0.9, wd 3e-4,
clip 5; Adam 6e-4 (0.5, 0.999) for alpha, alpha frozen for the first 15 of 50
epochs; C=16, 8 cells) plus the smooth-activation regulariser (Eq. 8,
``lambda_t * sum alpha`` with lambda_t = epoch / 5) on the OP logits only
(the edge-normalisation weights beta are not regularised), with alpha's
coupled L2 switched off as SA runs do.

Launch:
  python -m nasjax.search --config=configs/darts/sac_darts.py --workdir=runs/darts_sac
  python -m nasjax.search --config=configs/darts/sac_darts.py:runlocal --workdir=/tmp/darts_sac
"""

from nasjax.config.protocols import (
  darts_protocol,
  pc_darts_protocol,
  runlocal_darts,
  sa_darts_protocol,
)
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = pc_darts_protocol(darts_protocol(search_config()))
  if "runlocal" in variants:
    runlocal_darts(config)
    config.optimizer.alpha.warmup_epochs = 1
  return sa_darts_protocol(config)  # lambda_t = epoch / 5, whatever the epochs
