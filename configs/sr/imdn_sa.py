"""SA-DARTS (smooth activation, Eq. 8) on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.sr_search_config` (L1 loss; Adam for the
weights and alpha; DIV2K patches; the search length and weight learning rate
are defaults chosen here) plus the smooth-activation regulariser, Eq. 8 (a = 1) on
alpha's logits, lambda_t = epoch / 5, alpha's L2 off.

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/imdn_sa.py --workdir=runs/sr_imdn_sa
  python -m nasjax.search --config=configs/sr/imdn_sa.py:runlocal \\
      --workdir=/tmp/sr_imdn_sa
"""

from nasjax.config.sr import method_config, sa


def get_config(arg=None):
  return method_config("imdn", arg, sa)
