"""DARTS+PT (fix alpha) on the NAS-Bench-201 space (CIFAR-10): the search half.

Protocol (darts-PT, Wang et al., ICLR 2021, NAS-Bench-201 setting): the
supernet of NAS-Bench-201's DARTS protocol (C=16, N=5; SGD with Nesterov
momentum 0.9, lr 0.025 cosine to 0.001, weight decay 5e-4, clipping 5; batch
64 per half on disjoint CIFAR-10 halves; the step, BN statistics and conv
biases of AutoDL's DARTS-V1 code as ``darts_1st.py``, the clip over the
weights alone as alpha has no gradient) trained for 100 epochs with alpha
uniform (all logits 0) and never updated. The architecture is then chosen by
perturbation-based selection, whose fine-tuning keeps alpha fixed too.

Launch:
  python -m nasjax.search --config=configs/nb201/darts_pt_fix_alpha.py --workdir=runs/pt_fix
  python -m nasjax.select --workdir=runs/pt_fix --method=pt
  python -m nasjax.search --config=configs/nb201/darts_pt_fix_alpha.py:runlocal --workdir=/tmp/ptf
  python -m nasjax.select --workdir=/tmp/ptf --method=pt --config.pt.proj_interval=1

``runlocal`` trains a small supernet on the CIFAR-10 subset in
$NASJAX_DATA_DIR in about a minute on a 2-core CPU.
"""

from nasjax.config.protocols import fix_alpha, nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = fix_alpha(nb201_protocol(search_config()))
  config.epochs = 100
  return runlocal(config) if "runlocal" in variants else config
