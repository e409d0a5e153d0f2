"""DrNAS (Dirichlet relaxation) on the NAS-Bench-201 space (CIFAR-10).

Protocol: NAS-Bench-201's first-order DARTS search (``darts_1st.py``: 50
epochs, disjoint 50/50 split, batch 64, C=16, N=5; SGD Nesterov 0.025 cosine
to 0.001, wd 5e-4, clip 5) with DrNAS' relaxation: op weights are
reparameterised samples of Dir(ELU(theta) + 1) in training and its mean in
evaluation and for the genotype; theta by Adam lr 6e-4, betas (0.5, 0.999),
with DrNAS' 'l2' regulariser (a coupled L2 of 1e-3). DrNAS' progressive
partial-channel schedule is not part of this config.

Variants: ``kl`` (DrNAS' KL regulariser, 1e-3 * sum_e KL(Dir(ELU(theta_e) + 1)
|| Dir(1)), the strength a default chosen here), ``runlocal``.

Launch:
  python -m nasjax.search --config=configs/nb201/drnas.py --workdir=runs/nb201_drnas
  python -m nasjax.search --config=configs/nb201/drnas.py:runlocal --workdir=/tmp/drnas
"""

from nasjax.config.protocols import drnas_protocol, nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "kl"))
  config = nb201_protocol(search_config())
  config.hypergradient = "first_order"
  drnas_protocol(config, "kl" if "kl" in variants else "l2")
  return runlocal(config) if "runlocal" in variants else config
