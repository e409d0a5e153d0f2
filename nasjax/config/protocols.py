"""Published search protocols, as config transformations.

The step protocols of the two public code bases are :func:`autodl_step`
(AutoDL-Projects' NAS-Bench-201 code) and :func:`quark0_step` (DARTS' own).

NAS-Bench-201's DARTS protocol (AutoDL-Projects' code), SA-DARTS' and
Beta-DARTS' regularisers (their schedules as per-epoch slopes), the
``runlocal`` shrink of a NAS-Bench-201 search, and the protocols of the DARTS
CNN space (DARTS' own code).

Each function takes a search config (``nasjax.config.search_config()``),
changes what its method needs and returns it, so config files and notebooks
compose the same runs: ``pc_darts_protocol(darts_protocol(search_config()))``.
Where a value is the method's published setting the docstring says so; values
chosen here (where the papers are silent) are labelled as such.

The formulas, defaults and their sources: ``docs/methods.md`` (The step and its protocol).

Example:
  >>> from nasjax.config import darts_protocol, pc_darts_protocol, search_config
  >>> config = pc_darts_protocol(darts_protocol(search_config()))
  >>> config.space.name, config.space.partial_channels, config.batch_size
  ('darts', 4, 256)
"""

from __future__ import annotations

import ml_collections

from nasjax.config.search import parse_variants, search_config
from nasjax.core.relax import relaxation_config
from nasjax.errors import ConfigError

ConfigDict = ml_collections.ConfigDict

#: tfds names and class counts of the datasets the RobustDARTS spaces are searched on.
ROBUST_DATASETS = {"cifar10": 10, "cifar100": 100, "svhn": 10}


def autodl_step(config: ConfigDict) -> ConfigDict:
  """The step of AutoDL-Projects' NAS-Bench-201 DARTS code (``exps/NAS-Bench-201-algos``).

  The weight update first, then the alpha update at the new weights
  (``step_order='weights_first'``, DARTS-V1; a second-order config sets
  ``'alpha_first'``, as DARTS-V2 runs); cell BNs keep running statistics
  (``track_running_stats``, as the documented ``DARTS-V1.sh cifar10 1``
  command), updated by the training-mode forwards of both updates
  (``bn_stats_update='both_steps'``); the weight clip on the norm of all of
  the network's parameters' gradients, alpha's included
  (``grad_clip_scope='weights_and_alpha'``); the cells' convolutions carry a
  bias (AutoDL's ``bias = not affine``, ``conv_bias``). nasjax matches that
  code's forward, backward and step to float32 rounding
  (``tests/test_autodl_golden.py``). The search length, batch, optimisers,
  regularisers and space size are the config's own.
  """
  config.step_order = "weights_first"
  config.bn_stats_update = "both_steps"
  config.optimizer.weights.grad_clip_scope = "weights_and_alpha"
  config.space.update(track_running_stats=True, conv_bias=True)
  return config


def quark0_step(config: ConfigDict) -> ConfigDict:
  """The step of DARTS' own code (github quark0/darts, ``train_search.py``, ``architect.py``).

  The alpha update first, then the weight update with the new alpha
  (``step_order='alpha_first'``); the weight clip on the weight gradients
  only (its alphas are not module parameters: ``grad_clip_scope='weights'``);
  the training-mode forwards of both updates update the BN statistics where
  a BN tracks them (``bn_stats_update='both_steps'``: the stem's; the
  search cells' BNs keep none here, a choice of these protocols, since
  DARTS' cells track them for its end-of-epoch evaluation only).
  """
  config.step_order = "alpha_first"
  config.bn_stats_update = "both_steps"
  config.optimizer.weights.grad_clip_scope = "weights"
  return config


def nb201_protocol(config: ConfigDict) -> ConfigDict:
  """NAS-Bench-201's DARTS search protocol on CIFAR-10, as AutoDL-Projects' code runs it.

  50 epochs, batch 64, the NB201 space (C=16, N=5), weights by SGD with
  Nesterov momentum 0.9, lr 0.025 cosine to 0.001, weight decay 5e-4 and
  gradient clipping 5; alpha as DARTS (Adam 3e-4, betas (0.5, 0.999), L2
  1e-3); the step of AutoDL's DARTS-V1 (:func:`autodl_step`). The config
  files under ``configs/nb201/`` state these values themselves.
  """
  config.epochs = 50
  config.batch_size = 64
  config.space.name = "nb201"
  config.optimizer.weights.update(
    lr=0.025, lr_min=0.001, momentum=0.9, nesterov=True, weight_decay=5e-4, grad_clip=5.0
  )
  autodl_step(config)
  config.data.name = "cifar10"
  config.space.num_classes = 10
  return config


def runlocal(config: ConfigDict) -> ConfigDict:
  """Shrinks a search to finish in about a minute on a 2-core CPU.

  A supernet of C=8 with one cell per stage, 3 epochs of 20 steps on 1,280
  images of the CIFAR-10 subset in ``$NASJAX_DATA_DIR`` (640 per half, batch
  32), evaluated on 512 test images. Everything else (optimisers,
  regularisers, hypergradient) is the config's own.
  """
  config.epochs = 3
  config.batch_size = 32
  config.space.channels = 8
  config.space.cells_per_stage = 1
  config.data.source = "npz"
  config.data.name = "cifar10"
  config.data.train_limit = 1280
  config.eval.limit = 512
  config.eval.batch_size = 256
  config.log_every_steps = 5
  return config


def demo(config: ConfigDict) -> ConfigDict:
  """A demonstration setting, not a protocol: :func:`runlocal` with alpha moving visibly.

  :func:`runlocal`'s size, 10 epochs instead of 3 and alpha's learning rate
  x10, so that within about a minute on a 2-core CPU the op probabilities
  leave the uniform start far enough for the genotype to say something. The
  larger learning rate is for showing the mechanics only; published
  protocols are the config files without this variant.
  """
  runlocal(config)
  config.epochs = 10
  config.optimizer.alpha.lr = 10 * config.optimizer.alpha.lr
  return config


#: SA-DARTS' lambda_t = epoch / 5: its increase per epoch.
SA_SLOPE = 0.2
#: Beta-DARTS' lambda_t = 50 * epoch / 100 (its code): its increase per epoch.
BETA_SLOPE = 0.5


def sa_darts_protocol(config: ConfigDict, a: float = 1.0, mu: float = 0.0) -> ConfigDict:
  """Adds SA-DARTS' smooth-activation regulariser to a DARTS config.

  The SA loss on alpha's logits (Eq. 7 with ``a``, ``mu``; the defaults give
  Eq. 8, ``lambda_t * sum alpha``) with lambda_t = epoch / 5 (the paper's
  schedule: ``schedule='slope'``, 0.2 per epoch from 0, whatever
  ``config.epochs`` is, before or after this call), and alpha's coupled L2
  switched off, as SA runs do.
  """
  config.optimizer.alpha.weight_decay = 0.0
  config.regularizers.sa.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=SA_SLOPE,
    strength=0.0,
    ramp_epochs=0,
    a=a,
    mu=mu,
    apply_to="logits",
    reduction="sum",
  )
  return config


def beta_darts_protocol(config: ConfigDict) -> ConfigDict:
  """Adds Beta-DARTS' beta-decay regulariser to a DARTS config.

  ``lambda_t * mean_e logsumexp(alpha_e)`` on alpha's logits with lambda_t =
  50 * epoch / 100 as in Beta-DARTS' code (``schedule='slope'``, 0.5 per
  epoch from 0, whatever the search length).
  """
  config.regularizers.beta_decay.update(
    enabled=True,
    schedule="slope",
    start=0.0,
    slope=BETA_SLOPE,
    strength=0.0,
    ramp_epochs=0,
    apply_to="logits",
  )
  return config


def darts_space(op_set: str = "darts", num_classes: int = 10) -> ConfigDict:
  """The ``config.space`` block of the DARTS CNN search space.

  C=16 initial channels, 8 cells (reductions at 1/3 and 2/3), 4 intermediate
  nodes per cell, stem multiplier 3, search BNs without affine parameters or
  running statistics, no partial channels, no edge normalisation.

  Args:
    op_set: the candidate ops: ``'darts'`` (the 8 DARTS ops on every edge) or
      RobustDARTS' reduced spaces ``'s1'`` .. ``'s4'``.
    num_classes: classifier outputs.
  """
  return ConfigDict(
    dict(
      name="darts",
      channels=16,
      layers=8,
      steps=4,
      multiplier=4,
      stem_multiplier=3,
      num_classes=num_classes,
      op_set=op_set,
      ops=(),
      track_running_stats=False,
      partial_channels=1,
      edge_normalization=False,
    )
  )


def darts_protocol(config: ConfigDict, op_set: str = "darts") -> ConfigDict:
  """DARTS' CNN search on CIFAR-10 (Liu et al. 2019, its published settings).

  50 epochs, batch 64 per half of a disjoint 50/50 split of the training set,
  the DARTS space (C=16, 8 cells); weights: SGD momentum 0.9 (not Nesterov),
  lr 0.025 cosine to 0.001 per epoch, weight decay 3e-4, gradient clipping 5;
  alpha: Adam 3e-4, betas (0.5, 0.999), coupled L2 1e-3. No cutout in search.
  The step of DARTS' code (:func:`quark0_step`). The config files under
  ``configs/darts/`` state these values themselves.
  """
  config.epochs = 50
  config.batch_size = 64
  config.space = darts_space(op_set, config.space.num_classes)
  config.optimizer.weights.update(
    lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False, weight_decay=3e-4, grad_clip=5.0
  )
  quark0_step(config)
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-3, init_std=1e-3)
  config.data.augment.cutout = 0
  return config


def pc_darts_protocol(config: ConfigDict) -> ConfigDict:
  """PC-DARTS' CIFAR-10 search (Xu et al. 2020, its published settings).

  Partial channels K=4 with edge normalisation; batch 256; weights lr 0.1
  cosine to 0; alpha Adam lr 6e-4 (L2 1e-3), frozen for the first 15 of 50
  epochs (only the weights train during the warm-up).
  """
  config.space.partial_channels = 4
  config.space.edge_normalization = True
  config.batch_size = 256
  config.optimizer.weights.update(lr=0.1, lr_min=0.0)
  config.optimizer.alpha.update(lr=6e-4, weight_decay=1e-3, warmup_epochs=15)
  return config


def snas_protocol(config: ConfigDict, hard: bool = False) -> ConfigDict:
  """The Gumbel-softmax relaxation of SNAS (Xie et al. 2019) on a DARTS-space search.

  In training every forward pass mixes the ops with a fresh sample
  ``softmax((alpha + g) / tau_t)``, g ~ Gumbel(0, 1), the temperature annealed
  exponentially from 1.0 to 0.03 over the search (defaults chosen here; SNAS
  anneals exponentially). Evaluation and the genotype use ``softmax(alpha)``.
  ``hard`` samples one-hot ops with straight-through gradients (GDAS' form).
  The rest of the config is kept (the DARTS protocol when composed with
  :func:`darts_protocol`); SNAS' resource constraint is not part of it.
  """
  config.relaxation = relaxation_config(
    "gumbel", tau_start=1.0, tau_end=0.03, schedule="exponential", hard=hard
  )
  return config


def drnas_protocol(config: ConfigDict, regularizer: str = "l2") -> ConfigDict:
  """The Dirichlet relaxation of DrNAS (Chen et al. 2021) on a DARTS-space search.

  Op weights are reparameterised samples of Dir(ELU(theta) + 1) in training
  and its mean in evaluation. Alpha (theta) uses Adam lr 6e-4 (DrNAS'
  setting); ``regularizer`` is DrNAS' ``'l2'`` (coupled L2 1e-3 on theta, the
  alpha optimiser's weight decay) or ``'kl'`` (``1e-3 * sum_e
  KL(Dir(ELU(theta_e) + 1) || Dir(1))``, alpha's L2 off; the strength is a
  default chosen here). DrNAS' progressive partial-channel schedule with op
  pruning between stages is not part of this protocol.

  Raises:
    ConfigError: for a regulariser other than ``'l2'`` or ``'kl'``.
  """
  if regularizer not in ("l2", "kl"):
    raise ConfigError(f"DrNAS' regulariser is 'l2' or 'kl', got {regularizer!r}")
  config.relaxation = relaxation_config("dirichlet")
  config.optimizer.alpha.lr = 6e-4
  if regularizer == "kl":
    config.optimizer.alpha.weight_decay = 0.0
    config.regularizers.dirichlet_kl.update(enabled=True, schedule="constant", strength=1e-3)
  else:
    config.optimizer.alpha.weight_decay = 1e-3
  return config


def robust_protocol(config: ConfigDict, space: str, dataset: str = "cifar10") -> ConfigDict:
  """RobustDARTS' search on a reduced space S1-S4 (Zela et al. 2020).

  The DARTS protocol (first order unless the config says otherwise) on the
  space ``space`` with the training set of ``dataset`` (``cifar10``,
  ``cifar100`` or ``svhn``, read through tensorflow-datasets).

  Raises:
    ConfigError: for an unknown space or dataset.
  """
  if space not in ("s1", "s2", "s3", "s4"):
    raise ConfigError(f"RobustDARTS spaces are s1, s2, s3 and s4, got {space!r}")
  if dataset not in ROBUST_DATASETS:
    raise ConfigError(f"RobustDARTS datasets are {sorted(ROBUST_DATASETS)}, got {dataset!r}")
  config.space.num_classes = ROBUST_DATASETS[dataset]
  darts_protocol(config, op_set=space)
  config.data.name = dataset
  return config


def runlocal_darts(config: ConfigDict) -> ConfigDict:
  """Shrinks a DARTS-space search to a few CPU minutes on the CIFAR-10 subset.

  A supernet of C=8 with 3 cells (a normal cell and two reduction cells: the
  smallest network with both cell types), batch 32, 2 epochs of 5 steps on
  320 images of the CIFAR-10 subset in ``$NASJAX_DATA_DIR`` (160 per half),
  evaluated on 256 test images. Warm-ups are shortened by the config files;
  regulariser schedules keep their per-epoch slopes. Partial-channel runs
  keep K (C=8 is divisible by 4).
  """
  config.epochs = 2
  config.batch_size = 32
  config.space.channels = 8
  config.space.layers = 3
  config.data.source = "npz"
  config.data.name = "cifar10"
  config.space.num_classes = 10
  config.data.train_limit = 320
  config.eval.limit = 256
  config.eval.batch_size = 128
  config.log_every_steps = 5
  return config


#: Variants the RobustDARTS config files accept after the colon.
ROBUST_VARIANTS = ("runlocal", "cifar100", "svhn", "2nd", "fd")


def robust_variants(arg: str | None) -> tuple[set[str], str, str]:
  """The variants of a ``configs/robust/`` file: ``(variants, dataset, hypergradient)``.

  Variants: a dataset (``cifar100``, ``svhn``; ``cifar10`` otherwise), the
  hypergradient (``2nd`` exact second order, ``fd`` DARTS' finite
  difference; first order otherwise) and ``runlocal``.

  Raises:
    ConfigError: for an unknown or contradictory variant.
  """
  variants = parse_variants(arg, ROBUST_VARIANTS)
  datasets = sorted(variants & {"cifar100", "svhn"})
  orders = sorted(variants & {"2nd", "fd"})
  if len(datasets) > 1 or len(orders) > 1:
    raise ConfigError(
      f"choose at most one dataset and one hypergradient variant, got {datasets + orders}"
    )
  hypergradient = {"2nd": "second_order_exact", "fd": "second_order_fd"}.get(
    orders[0] if orders else "", "first_order"
  )
  return variants, datasets[0] if datasets else "cifar10", hypergradient


def robust_config(space: str, arg: str | None) -> ConfigDict:
  """RobustDARTS' search on ``space`` for the variants ``arg`` (:func:`robust_variants`).

  Raises:
    ConfigError: for an unknown or contradictory variant.
  """
  variants, dataset, hypergradient = robust_variants(arg)
  config = robust_protocol(search_config(), space, dataset)
  config.hypergradient = hypergradient
  return runlocal_darts(config) if "runlocal" in variants else config


def fix_alpha(config: ConfigDict) -> ConfigDict:
  """darts-PT's fixed-alpha search: alpha uniform (all logits 0) and never updated.

  Only the supernet's weights train; the architecture is then read out by
  perturbation-based selection (``python -m nasjax.select --method=pt``),
  "DARTS+PT (fix alpha)" in Wang et al. (ICLR 2021).
  """
  config.optimizer.alpha.update(init_std=0.0, init_offset=0.0, init_bias=0.0, frozen=True)
  return config
