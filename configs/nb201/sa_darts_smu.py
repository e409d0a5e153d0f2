"""SA-DARTS with the general smooth activation (Eq. 7) on NAS-Bench-201 (CIFAR-10).

Protocol: as ``sa_darts.py`` (first-order DARTS with AutoDL's DARTS-V1 step,
50 epochs, disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to
0.001, wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999) without alpha L2; lambda_t =
epoch / 5, a slope of 0.2 per epoch whatever the epochs), with Eq. 7:
``[(1+a) alpha + (1-a) alpha erf(mu (1-a) alpha)] / 2`` summed over ops and
edges, a = 0.25 and mu = 1e6 (a leaky ReLU of slope 0.25 in effect). The
paper's NAS-Bench-201 ablation found a = 0.25 or 0.75 with mu = 1e6 equally
good; choose with ``--config.regularizers.sa.a=0.75``.

Launch:
  python -m nasjax.search --config=configs/nb201/sa_darts_smu.py --workdir=runs/nb201_sa_smu
  python -m nasjax.search --config=configs/nb201/sa_darts_smu.py:runlocal --workdir=/tmp/sa_smu
"""

from nasjax.config.protocols import nb201_protocol, runlocal, sa_darts_protocol
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = sa_darts_protocol(nb201_protocol(search_config()), a=0.25, mu=1e6)  # epoch / 5
  return runlocal(config) if "runlocal" in variants else config
