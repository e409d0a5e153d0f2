"""The CPU-scale NAS-Bench-201 protocol: DARTS' failure within one CPU hour for 3 seeds.

Usage: ``configs/nb201/cpu_scale.py:<method>[,<variant>]``, where ``<method>``
is a config file of this folder (``darts_1st``, ``darts_2nd``, ``sa_darts``,
``sa_darts_smu``, ``beta_darts``, ``pc_darts``, ``drnas``, ``entropy``,
``darts_pt_fix_alpha``) and the variants are that file's own (e.g.
``entropy,linear``). The method's paper-scale config is loaded and shrunk as
below; ``python -m nasjax.reproduce nb201 --scale=cpu`` runs it for a list of
methods with their seeds as one program.

What is kept, and why:

* **All 15 cells share alpha** (N=5 cells per stage, as the benchmark's
  supernet): the hypergradient of each edge sums over 15 cells, which sets
  its size and noise relative to the regularisers' gradients.
* **50 epochs**, for every method (Beta-DARTS and the fixed-alpha PT search
  use 100 at paper scale): the regulariser schedules are functions of the
  epoch in their papers' own terms (SA: lambda = epoch / 5; Beta-DARTS:
  lambda = 0.5 * epoch; PC-DARTS' 15-epoch warm-up), so they read the same.
* The weights' optimiser (SGD Nesterov 0.025 cosine to 0.001, wd 5e-4, clip
  5), alpha's Adam betas and L2, the disjoint 50/50 split, the step order,
  BN and clip settings: each method's own.

What is scaled, and why:

* **Images 16x16** (the CIFAR-10 subset in ``$NASJAX_DATA_DIR``, 5,085
  training images, averaged over 2x2 blocks; crop padding 2): a step costs
  a quarter of a 32x32 one, and the supernet still learns (ImageNet16-120 is
  searched at this size).
* **C=4** channels in the first stage (16 at paper scale), **batch 32** per
  half: 79 steps per epoch, 3,950 alpha steps in all (paper: 19,500 at batch
  64 on 25,000 images per half). On the 2-core CPU a step of 3 seeds takes
  about 0.55 s.
* **Alpha's learning rate x5** (DARTS' 3e-4 -> 1.5e-3; PC-DARTS' and DrNAS'
  6e-4 -> 3e-3): with a fifth of the paper's alpha steps, the same learning
  rate would move alpha a fifth as far (Adam's steps have a bounded size).
  Weights keep their learning rate: they see the same number of epochs of
  their (smaller) half.
* **The regularisers keep the papers' lambda_t.** Under Adam a regulariser's
  effect is set by its gradient relative to the mean and the noise of alpha's
  data gradient per coordinate. ``benchmarks/alpha_gradient_scale.py``
  measured both on the real supernets (16 validation batches at a fixed state,
  after 0, 100 and 200 training steps): after the first steps the noise is
  1.2-1.4x the paper scale's (batch 32 against 64: sqrt(2)) and the mean of
  the same order (0.4-2x); at both scales it is 0.01-0.03 per coordinate, so
  SA's 0.2 * epoch and Beta-DARTS' 0.5 * epoch exceed it from the first
  epochs on. A 1.3x difference in that ratio is well inside the ablations'
  factors of 10, so lambda_t is not rescaled.
* **PC-DARTS: K=2** partial channels instead of 4, so that each op still
  sees 2 channels at C=4.
* Measurements: the dominant eigenvalue of the Hessian of the validation
  loss w.r.t. alpha every 5 epochs on 2 batches (64 images) of the alpha
  half, by 10 Lanczos iterations (the full 30x30 Hessian, 30 Hessian-vector
  products per batch, costs as much as 100 search steps); the supernet's test
  accuracy every 5 epochs on the 1,017 test images; NAS-Bench-201 accuracies
  of each epoch's argmax cell (the benchmark trains each cell at full size:
  the look-up measures what was found, not how the small supernet did).
  Checkpoints every 5 epochs and at the end.

Launch (one method):
  python -m nasjax.search --config=configs/nb201/cpu_scale.py:darts_1st --workdir=runs/cpu_darts
"""

import importlib.util
from pathlib import Path

from nasjax.errors import ConfigError

#: The methods this protocol shrinks (config files beside this one).
METHODS = (
  "darts_1st",
  "darts_2nd",
  "sa_darts",
  "sa_darts_smu",
  "beta_darts",
  "pc_darts",
  "drnas",
  "entropy",
  "darts_pt_fix_alpha",
)


def _method_config(name, variants):
  path = Path(__file__).with_name(f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"nasjax_nb201_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(",".join(variants) or None)


def get_config(arg=None):
  name, *variants = [v.strip() for v in (arg or "").split(",") if v.strip()] or [""]
  if name not in METHODS:
    raise ConfigError(
      f"configs/nb201/cpu_scale.py takes a method first, one of {list(METHODS)}; got {name!r} "
      "(e.g. --config=configs/nb201/cpu_scale.py:sa_darts)"
    )
  config = _method_config(name, variants)
  config.epochs = 50
  config.batch_size = 32
  config.space.channels = 4
  config.space.cells_per_stage = 5
  if config.space.partial_channels > 1:
    config.space.partial_channels = 2
  config.optimizer.alpha.lr = round(5 * config.optimizer.alpha.lr, 12)
  config.data.update(source="npz", name="cifar10", train_limit=0, downsample=2)
  config.data.path = "$NASJAX_DATA_DIR/cifar10_subset.npz"
  config.data.augment.crop_padding = 2
  config.eval.update(every_epochs=5, limit=0, batch_size=256)
  config.analysis.update(
    hessian_every=5, hessian_method="lanczos", hessian_iters=10, hessian_batches=2
  )
  config.checkpoint.every_epochs = 5
  config.log_every_steps = 79
  config.num_seeds = 3
  return config
