"""Beta-DARTS on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.sr_search_config` (L1 loss; Adam for the
weights and alpha; DIV2K patches; the search length and weight learning rate
are defaults chosen here) plus beta-decay on alpha's logits, lambda_t = 50 * epoch
/ 100 (linear from 0).

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/imdn_beta.py --workdir=runs/sr_imdn_beta
  python -m nasjax.search --config=configs/sr/imdn_beta.py:runlocal \\
      --workdir=/tmp/sr_imdn_beta
"""

from nasjax.config.sr import beta, method_config


def get_config(arg=None):
  return method_config("imdn", arg, beta)
