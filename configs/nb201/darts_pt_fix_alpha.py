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

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal",))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(name="nb201", channels=16, cells_per_stage=5, num_classes=10)
  # 100 epochs, batch 64 per half of the disjoint 50/50 split of CIFAR-10's training set.
  config.epochs = 100
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
  # Alpha: uniform (all logits 0) and never updated: only the weights train.
  config.optimizer.alpha.update(init_std=0.0, init_offset=0.0, init_bias=0.0, frozen=True)
  # No regulariser.
  autodl_step(config)  # the step of AutoDL's DARTS-V1 code
  return runlocal(config) if "runlocal" in variants else config
