"""The trellis search with a constant entropy penalty on alpha and beta.

:file:`search_darts.py` plus ``lambda * sum_rows H(p_row)`` over every row of
the cell alpha and of the network-level beta, lambda = 0.1 throughout (a
default chosen here; the single-stage paper's values are not public). Set the
strength with ``--config.regularizers.entropy.strength=...`` and restrict the
penalty to alpha with ``--config.regularizers.entropy.tensors='("cell",)'``
or to beta with ``'("network2", "network3")'``.

Variants: ``camvid``, ``runlocal`` (see :file:`search_darts.py`).

Launch:
  python -m nasjax.search --config=configs/seg/search_entropy_const.py --workdir=runs/seg_ent_c
  python -m nasjax.search --config=configs/seg/search_entropy_const.py:runlocal \\
      --workdir=/tmp/seg_ent_c
"""

from nasjax.config.seg import entropy, method_config


def get_config(arg=None):
  return method_config(arg, lambda c: entropy(c, "constant"))
