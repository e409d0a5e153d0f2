"""DARTS with an entropy penalty on alpha, on the NAS-Bench-201 space (CIFAR-10).

Protocol: first-order DARTS (``darts_1st.py``, AutoDL's DARTS-V1 step: 50
epochs, disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to 0.001,
wd 5e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha) plus ``lambda *
sum_e H(softmax(alpha_e))``, which pushes each edge towards a one-hot choice.
Constant lambda = 0.1 by default; the ``linear`` variant ramps lambda from 0
to 0.1 over the whole search (``0.1 * epoch / epochs``, the epochs resolved
after ``--config.epochs`` and ``runlocal``).

The strength 0.1 is a default chosen here, not a paper value; set it with
``--config.regularizers.entropy.strength=...``.

Variants: ``linear`` (linear scaling), ``runlocal``.

Launch:
  python -m nasjax.search --config=configs/nb201/entropy.py --workdir=runs/nb201_entropy
  python -m nasjax.search --config=configs/nb201/entropy.py:linear --workdir=runs/nb201_ent_lin
  python -m nasjax.search --config=configs/nb201/entropy.py:runlocal --workdir=/tmp/entropy
"""

from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "linear"))
  config = nb201_protocol(search_config())
  config.regularizers.entropy.update(
    enabled=True,
    schedule="linear" if "linear" in variants else "constant",
    start=0.0,
    strength=0.1,
    ramp_epochs=0,
    apply_to="probs",
    reduction="sum",
  )
  return runlocal(config) if "runlocal" in variants else config
