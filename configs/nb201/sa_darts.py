"""SA-DARTS (smooth activation, Eq. 8) on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS plus the smooth-activation regulariser on alpha's
logits in its default special case, Eq. 8 (a = 1): ``lambda_t * sum alpha``,
with lambda_t growing linearly with the epoch as ``epoch / 5`` (the schedule
``slope=0.2`` per epoch from 0: 9.8 at the last of 50 epochs; ``--config.epochs``
and ``runlocal`` keep the slope). SA runs switch alpha's coupled L2 off
(weight decay 0). Otherwise as ``darts_1st.py``, whose step follows AutoDL's
DARTS-V1 code: 50 epochs, disjoint 50/50 split, batch 64, SGD Nesterov 0.025
cosine to 0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999).
Softmax is shift-invariant, so Eq. 8 acts through Adam's per-coordinate
scaling of alpha's gradient.

The schedule's form (linear, epoch / 5) is the method's reported one; the
search length and optimiser settings are the NAS-Bench-201 DARTS protocol.

Launch:
  python -m nasjax.search --config=configs/nb201/sa_darts.py --workdir=runs/nb201_sa_darts
  python -m nasjax.search --config=configs/nb201/sa_darts.py:runlocal --workdir=/tmp/sa_darts
"""

from nasjax.config.protocols import nb201_protocol, runlocal, sa_darts_protocol
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = sa_darts_protocol(nb201_protocol(search_config()))  # lambda_t = epoch / 5
  return runlocal(config) if "runlocal" in variants else config
