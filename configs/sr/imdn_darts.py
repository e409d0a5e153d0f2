"""DARTS (first order) on the IMDN space (x2 super-resolution, DIV2K).

Protocol: :func:`nasjax.config.sr.sr_search_config` (L1 loss; Adam for the
weights and alpha; DIV2K patches; the search length and weight learning rate
are defaults chosen here) plus plain first-order DARTS: no regulariser.

Variants: ``x3``, ``x4`` (scale), ``runlocal`` (a few steps on Set14 patches,
evaluated on Set5 crops).

Launch:
  python -m nasjax.search --config=configs/sr/imdn_darts.py --workdir=runs/sr_imdn_darts
  python -m nasjax.search --config=configs/sr/imdn_darts.py:runlocal \\
      --workdir=/tmp/sr_imdn_darts
"""

from nasjax.config.sr import method_config


def get_config(arg=None):
  return method_config("imdn", arg)
