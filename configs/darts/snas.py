"""SNAS (Gumbel-softmax relaxation) on the DARTS CNN space (CIFAR-10).

Protocol: the DARTS search setting (``darts_1st.py``: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha, first
order) with SNAS' relaxation: every training forward pass mixes the ops with
a fresh Gumbel-softmax sample ``softmax((alpha + g) / tau_t)``, tau_t
annealed exponentially from 1.0 to 0.03 over the search (defaults chosen
here); evaluation and the genotype use ``softmax(alpha)``. SNAS' own search
length and resource constraint are not reproduced.

Variants (comma-separated after the colon):
  hard      one-hot samples with straight-through gradients (GDAS' form).
  runlocal  a 3-cell supernet on the CIFAR-10 subset (a few CPU minutes).

Launch:
  python -m nasjax.search --config=configs/darts/snas.py --workdir=runs/darts_snas
  python -m nasjax.search --config=configs/darts/snas.py:runlocal --workdir=/tmp/darts_snas
"""

from nasjax.config.protocols import darts_protocol, runlocal_darts, snas_protocol
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "hard"))
  config = snas_protocol(darts_protocol(search_config()), hard="hard" in variants)
  return runlocal_darts(config) if "runlocal" in variants else config
