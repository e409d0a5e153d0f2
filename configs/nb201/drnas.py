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

from nasjax.config import autodl_step, parse_variants, relaxation_config, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "kl"))
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
  # Alpha: Adam lr 6e-4 (DrNAS'), betas (0.5, 0.999), L2 1e-3 on theta ('l2') or none ('kl').
  config.optimizer.alpha.update(
    lr=6e-4, b1=0.5, b2=0.999, weight_decay=0.0 if "kl" in variants else 1e-3, init_std=1e-3
  )
  # DrNAS' Dirichlet relaxation; with 'kl', 1e-3 * KL(Dir(ELU(theta) + 1) || Dir(1)) per edge.
  config.relaxation = relaxation_config("dirichlet")
  if "kl" in variants:
    config.regularizers.dirichlet_kl.update(enabled=True, schedule="constant", strength=1e-3)
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
