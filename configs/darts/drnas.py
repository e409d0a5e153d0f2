"""DrNAS (Dirichlet relaxation) on the DARTS CNN space (CIFAR-10).

Protocol: the DARTS search setting (``darts_1st.py``: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; first order) with DrNAS' relaxation: op weights are
reparameterised samples of Dir(ELU(theta) + 1) in training and its mean in
evaluation and for the genotype; theta by Adam lr 6e-4 (0.5, 0.999) with
DrNAS' 'l2' regulariser, a coupled L2 of 1e-3. DrNAS' progressive
partial-channel schedule (op pruning between two stages) is not part of
this config; add ``--config.space.partial_channels=K`` for partial channels.

Variants (comma-separated after the colon):
  kl        DrNAS' 'kl' regulariser instead: 1e-3 * sum_e KL(Dir(ELU(theta_e)
            + 1) || Dir(1)) (strength a default chosen here), no L2.
  runlocal  a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/darts/drnas.py --workdir=runs/darts_drnas
  python -m nasjax.search --config=configs/darts/drnas.py:runlocal --workdir=/tmp/darts_drnas
"""

from nasjax.config.protocols import darts_protocol, drnas_protocol, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "kl"))
  config = drnas_protocol(darts_protocol(search_config()), "kl" if "kl" in variants else "l2")
  return runlocal_darts(config) if "runlocal" in variants else config
