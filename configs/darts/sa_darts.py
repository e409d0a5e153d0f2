"""SA-DARTS (smooth activation, Eq. 8) on the DARTS CNN space (CIFAR-10).

Protocol: first-order DARTS (``darts_1st.py``: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999)) plus the smooth-activation
regulariser on the logits of both cells in its default special case, Eq. 8
(a = 1): ``lambda_t * sum alpha``, lambda_t growing linearly as
``epoch / 5`` (``slope=0.2`` per epoch, kept by ``--config.epochs`` and
``runlocal``); alpha's coupled L2 is switched off, as SA runs do. The
schedule's form is the method's reported one; a and mu for this space are
defaults chosen here (configurable: ``--config.regularizers.sa.a``, ``.mu``).

Launch:
  python -m nasjax.search --config=configs/darts/sa_darts.py --workdir=runs/darts_sa
  python -m nasjax.search --config=configs/darts/sa_darts.py:runlocal --workdir=/tmp/darts_sa
"""

from nasjax.config.protocols import darts_protocol, runlocal_darts, sa_darts_protocol
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = sa_darts_protocol(darts_protocol(search_config()))  # lambda_t = epoch / 5
  return runlocal_darts(config) if "runlocal" in variants else config
