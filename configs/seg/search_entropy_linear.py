"""The trellis search with a linearly growing entropy penalty on alpha and beta.

:file:`search_darts.py` plus ``lambda_t * sum_rows H(p_row)`` over the cell
alpha and the network-level beta, lambda_t growing linearly from 0 at the
first epoch to 0.1 at the last (0.1 is a default chosen here). The fields of
:file:`search_entropy_const.py` apply.

Variants: ``camvid``, ``runlocal`` (see :file:`search_darts.py`).

Launch:
  python -m nasjax.search --config=configs/seg/search_entropy_linear.py --workdir=runs/seg_ent_l
  python -m nasjax.search --config=configs/seg/search_entropy_linear.py:runlocal \\
      --workdir=/tmp/seg_ent_l
"""

from nasjax.config.seg import entropy, method_config


def get_config(arg=None):
  return method_config(arg, lambda c: entropy(c, "linear"))
