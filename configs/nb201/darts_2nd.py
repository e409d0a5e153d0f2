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
(:func:`nasjax.config.protocols.nb201_protocol` with its order): the alpha update
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

from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import parse_variants, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "fd"))
  config = nb201_protocol(search_config())
  config.hypergradient = "second_order_fd" if "fd" in variants else "second_order_exact"
  config.step_order = "alpha_first"  # AutoDL's DARTS-V2
  if "runlocal" in variants:
    return runlocal(config)  # compile time dominates a short run: keep the scanned cells
  config.space.scan_cells = "fd" in variants
  return config
