"""DARTS, second order, on the NAS-Bench-201 space (CIFAR-10).

Protocol: as ``darts_1st.py`` (NAS-Bench-201's DARTS setting: 50 epochs,
disjoint 50/50 split, batch 64, SGD Nesterov 0.025 cosine to 0.001, wd 5e-4,
clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha), with the second-order
hypergradient computed exactly: alpha's gradient is differentiated through the
unrolled weight step ``w' = w - xi (momentum buffer + grad + wd w)``, xi the
current weight lr. The full-size exact run unrolls the cells
(``space.scan_cells=False``): differentiating through the unrolled step is
1.6x faster per step on the CPU that way (1.57 s against 2.54 s at batch 16,
for a 65 s compile against 26 s).

Code followed: AutoDL-Projects' ``exps/NAS-Bench-201-algos/DARTS-V2.py``
(:func:`nasjax.config.autodl_step` with its order): the alpha update
first (unrolled at the current weights), then the weight update with the new
alpha; cell BNs keep running statistics, updated by the weight update's
forward and by the alpha update's forward on the training batch at the
current weights (AutoDL runs the validation forward at w' on a copy of the
network; its finite-difference form also updates them at w +- eps v, which
``:fd`` here does not); clipping over all network parameters' gradients,
alpha's included; cell convolutions with a bias. AutoDL's unrolled step
uses plain momentum even though its optimiser is Nesterov's; nasjax
unrolls the optimiser's own (Nesterov) step.

Variants (comma-separated after the colon):
  fd        DARTS' finite-difference form (eps = 0.01 / ||v||) instead of the
            exact hypergradient, for parity with the PyTorch code.
  runlocal  a small supernet on the CIFAR-10 subset; about a minute or two on
            a 2-core CPU (second-order steps compile longer).

Launch:
  python -m nasjax.search --config=configs/nb201/darts_2nd.py --workdir=runs/nb201_darts_2nd
  python -m nasjax.search --config=configs/nb201/darts_2nd.py:fd --workdir=runs/nb201_darts_2nd_fd
  python -m nasjax.search --config=configs/nb201/darts_2nd.py:runlocal --workdir=/tmp/darts_2nd
"""

from nasjax.config import autodl_step, parse_variants, runlocal, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "fd"))
  config = search_config()
  # The NAS-Bench-201 space: its 5 ops on each of the cell's 6 edges, C=16, N=5 cells per stage.
  config.space.update(name="nb201", channels=16, cells_per_stage=5, num_classes=10)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of CIFAR-10's training set.
  config.epochs = 50
  config.batch_size = 64
  config.data.name = "cifar10"
  config.hypergradient = "second_order_fd" if "fd" in variants else "second_order_exact"
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
  # No regulariser.
  autodl_step(config)
  config.step_order = "alpha_first"  # AutoDL's DARTS-V2: the alpha update first
  if "runlocal" in variants:
    return runlocal(config)  # compile time dominates a short run: keep the scanned cells
  config.space.scan_cells = "fd" in variants
  return config
