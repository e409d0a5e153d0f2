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

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "linear"))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(name="nb201", channels=16, cells_per_stage=5, num_classes=10)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of CIFAR-10's training set.
  config.epochs = 50
  config.batch_size = 64
  config.data.name = "cifar10"
  config.hypergradient = "first_order"
  # Weights: SGD, Nesterov momentum 0.9, lr 0.025 cosine to 0.001, wd 5e-4, clip 5.
  config.optimizer.weights.update(
    name="sgd",
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    grad_clip=5.0,
  )
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3)
  # Entropy of the op probabilities, lambda 0.1: constant, or from 0 to 0.1 over the search.
  config.regularizers.entropy.update(
    enabled=True,
    schedule="linear" if "linear" in variants else "constant",
    start=0.0,
    strength=0.1,
    ramp_epochs=0,
    apply_to="probs",
    reduction="sum",
  )
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
