"""RobustDARTS space S1 on the DARTS cell (CIFAR-10, CIFAR-100 or SVHN).

Space: S1: two candidate ops per edge, a different pair on each of the 14 edges of each cell
type (RobustDARTS' pairs, listed in ``nasjax.spaces.darts.supernet``).

Protocol: the DARTS search setting (``configs/darts/darts_1st.py``: 50 epochs,
disjoint 50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001,
momentum 0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3) on the
reduced space, first order by default (a default chosen here; RobustDARTS
reports both orders: use the ``2nd`` or ``fd`` variant).

Variants (comma-separated after the colon):
  cifar100, svhn  search on that dataset's training set (tensorflow-datasets);
                  CIFAR-10 otherwise.
  2nd, fd         second-order hypergradient, exact or DARTS' finite difference.
  runlocal        a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/robust/s1.py --workdir=runs/robust_s1
  python -m nasjax.search --config=configs/robust/s1.py:svhn,2nd --workdir=runs/robust_s1_svhn
  python -m nasjax.search --config=configs/robust/s1.py:runlocal --workdir=/tmp/robust_s1
"""

from nasjax.config.protocols import robust_config


def get_config(arg=None):
  return robust_config("s1", arg)
