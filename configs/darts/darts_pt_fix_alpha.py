"""DARTS+PT (fix alpha) on the DARTS CNN space (CIFAR-10): the search half.

Protocol (darts-PT, Wang et al., ICLR 2021): DARTS' search setting (50
epochs, batch 64 per half on disjoint CIFAR-10 halves, C=16, 8 cells; SGD
momentum 0.9, lr 0.025 cosine to 0.001, weight decay 3e-4, clipping 5) with
alpha uniform (all logits 0) and never updated. Perturbation-based selection
then decides one normal and one reduction edge per round, and finally keeps
two inputs per node, fine-tuning 5 epochs between decisions.

Launch:
  python -m nasjax.search --config=configs/darts/darts_pt_fix_alpha.py --workdir=runs/dpt_fix
  python -m nasjax.select --workdir=runs/dpt_fix --method=pt
  python -m nasjax.search --config=configs/darts/darts_pt_fix_alpha.py:runlocal --workdir=/tmp/dptf
  python -m nasjax.select --workdir=/tmp/dptf --method=pt --config.pt.proj_interval=1

``runlocal`` trains a 3-cell supernet (C=8) on the CIFAR-10 subset in
$NASJAX_DATA_DIR for a few CPU minutes.
"""

from nasjax.config.protocols import darts_protocol, fix_alpha, runlocal_darts
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = fix_alpha(darts_protocol(search_config()))
  return runlocal_darts(config) if "runlocal" in variants else config
