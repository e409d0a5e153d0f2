"""DARTS, second order, on the DARTS CNN space (CIFAR-10).

Protocol: as ``darts_1st.py`` (DARTS' published setting: 50 epochs, disjoint
50/50 split, batch 64, C=16, 8 cells; SGD 0.025 cosine to 0.001, momentum
0.9, wd 3e-4, clip 5; Adam 3e-4 (0.5, 0.999), L2 1e-3 for alpha), with the
second-order hypergradient computed exactly: alpha's gradient is
differentiated through the unrolled weight step ``w' = w - xi (momentum
buffer + grad + wd w)``, xi the current weight lr.

Code followed: DARTS' own (github quark0/darts, ``train_search.py`` and
``architect.py``; :func:`nasjax.config.quark0_step`): the alpha update
first, then the weight update with the new alpha; clipping over the weight
gradients alone; convolutions without bias; search-cell BNs without running
statistics; the stem BN's statistics updated by both updates' forwards (second
order: the alpha update's forward on the training batch at the current
weights, as DARTS' unrolling does; its finite-difference forwards at
w +- eps v also update them there, not here).

Variants (comma-separated after the colon):
  fd        DARTS' finite-difference form (eps = 0.01 / ||v||), as the
            published DARTS (2nd order) result was searched.
  runlocal  a 3-cell supernet on the CIFAR-10 subset (about 15 minutes on a
            2-core CPU: the second-order step compiles and runs longer).

Launch:
  python -m nasjax.search --config=configs/darts/darts_2nd.py --workdir=runs/darts_2nd
  python -m nasjax.search --config=configs/darts/darts_2nd.py:fd --workdir=runs/darts_2nd_fd
  python -m nasjax.search --config=configs/darts/darts_2nd.py:runlocal --workdir=/tmp/darts_2nd
"""

from nasjax.config import darts_space, parse_variants, quark0_step, runlocal_darts, search_config


def get_config(arg=None):
  variants = parse_variants(arg, ("runlocal", "fd"))
  config = search_config()
  # The DARTS CNN space, its 8 ops on every edge: C=16, 8 cells (reductions at
  # 1/3 and 2/3), 4 nodes per cell.
  config.space = darts_space("darts", num_classes=10)
  config.space.update(channels=16, layers=8, steps=4)
  # 50 epochs, batch 64 per half of the disjoint 50/50 split of the training set; no cutout.
  config.epochs = 50
  config.batch_size = 64
  config.data.augment.cutout = 0
  config.hypergradient = "second_order_fd" if "fd" in variants else "second_order_exact"
  # Weights: SGD momentum 0.9, lr 0.025 cosine to 0.001, wd 3e-4, clip 5.
  config.optimizer.weights.update(
    name="sgd",
    lr=0.025,
    lr_min=0.001,
    momentum=0.9,
    nesterov=False,
    weight_decay=3e-4,
    grad_clip=5.0,
  )
  # Alpha: Adam lr 3e-4, betas (0.5, 0.999), coupled L2 1e-3, initialised 1e-3 * N(0, 1).
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3)
  # No regulariser.
  quark0_step(config)  # the step of DARTS' code
  if "runlocal" in variants:
    runlocal_darts(config)
  return config
