"""Beta-DARTS on the DARTS CNN space (CIFAR-10).

Protocol: first-order DARTS (``darts_1st.py``: 50 epochs, disjoint 50/50
split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum 0.9,
wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3) plus the beta-decay
regulariser ``lambda_t * mean_e logsumexp(alpha_e)`` on the logits of both
cells, lambda_t = 50 * epoch / 100 as in Beta-DARTS' code (linear from 0; 25
at the end of a 50-epoch search).

Launch:
  python -m nasjax.search --config=configs/darts/beta_darts.py --workdir=runs/darts_beta
  python -m nasjax.search --config=configs/darts/beta_darts.py:runlocal --workdir=/tmp/darts_beta
"""

from nasjax.config import parse_variants, search_config
from nasjax.protocols import darts_protocol, runlocal_darts


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = darts_protocol(search_config())
  config.regularizers.beta_decay.update(
    enabled=True, schedule="linear", start=0.0, strength=50.0, ramp_epochs=100, apply_to="logits"
  )
  if "runlocal" in variants:
    runlocal_darts(config)
    config.regularizers.beta_decay.ramp_epochs = config.epochs  # reach full strength
  return config
