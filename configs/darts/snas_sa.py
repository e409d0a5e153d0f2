"""SNAS + SA: the Gumbel-softmax relaxation with the smooth-activation regulariser (DARTS space).

Protocol: ``snas.py`` (the DARTS search setting: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999); Gumbel-softmax samples, tau 1.0 to
0.03 exponentially) plus the smooth-activation regulariser on alpha's logits,
Eq. 8 (``lambda_t * sum alpha``, lambda_t = epoch / 5), with alpha's coupled
L2 switched off as SA runs do.

Launch:
  python -m nasjax.search --config=configs/darts/snas_sa.py --workdir=runs/darts_snas_sa
  python -m nasjax.search --config=configs/darts/snas_sa.py:runlocal --workdir=/tmp/darts_snas_sa
"""

from nasjax.config.protocols import darts_protocol, runlocal_darts, sa_darts_protocol, snas_protocol
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = snas_protocol(darts_protocol(search_config()))
  if "runlocal" in variants:
    runlocal_darts(config)
  return sa_darts_protocol(config)  # lambda_t = epoch / 5, whatever the epochs
