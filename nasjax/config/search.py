"""The search configuration: its defaults and its validation.

:func:`search_config` returns a ConfigDict holding every field the search
core reads, with the defaults of DARTS on CIFAR (``docs/methods.md``).
Config files under ``configs/`` start from it and state what their method
needs; :func:`validate_search_config` turns an impossible value into a
:class:`~nasjax.errors.ConfigError` naming the field and the fix. Each part
of the config is checked by its owner: the space's block by its
:class:`~nasjax.spaces.base.SearchSpace`, the data block by the space's
task (:class:`~nasjax.tasks.base.Task`), the relaxation and the
regularisers by their builders, the multi-process block by
:mod:`nasjax.infra.distributed`.

Example:
  >>> from nasjax.config import search_config, validate_search_config
  >>> config = search_config()
  >>> config.optimizer.alpha.lr
  0.0003
  >>> config.optimizer.weights.lr = -1.0
  >>> validate_search_config(config)
  Traceback (most recent call last):
  ...
  nasjax.errors.ConfigError: config.optimizer.weights.lr must be > 0, got -1.0
"""

from __future__ import annotations

import ml_collections

from nasjax.checks import (
  boolean,
  check,
  in_unit,
  integer,
  non_negative,
  number,
  one_of,
  positive,
)
from nasjax.config.run_fields import validate_run_fields
from nasjax.core.hypergradient import HYPERGRADIENTS
from nasjax.core.optimizers import WEIGHT_OPTIMIZERS
from nasjax.core.regularizers import default_regularizers, make_regularizer
from nasjax.core.relax import make_relaxation
from nasjax.errors import ConfigError
from nasjax.infra.distributed import distributed_config, validate_distributed
from nasjax.spaces.nb201.genotype import NB201_OPS
from nasjax.spaces.registry import SPACES, get_space
from nasjax.tasks.classification.data import data_config
from nasjax.tasks.registry import get_task

ConfigDict = ml_collections.ConfigDict

HESSIAN_METHODS = ("full", "lanczos", "power")
#: ``config.step_order``: which update of a search step runs first.
STEP_ORDERS = ("alpha_first", "weights_first")
#: ``config.bn_stats_update``: which steps' forwards update BN running statistics.
BN_STATS_UPDATES = ("weight_step", "both_steps")
#: ``config.optimizer.weights.grad_clip_scope``: whose gradients the clipped norm covers.
GRAD_CLIP_SCOPES = ("weights", "weights_and_alpha")
#: ``config.precision``.
PRECISIONS = ("auto", "float32", "bfloat16")


def search_config() -> ConfigDict:
  """Defaults for a DARTS search (first order) on the NAS-Bench-201 space.

  Fields:
    seed: root of every random stream (init, alpha, data order, relaxation).
    epochs, batch_size: search length and per-step batch (per half).
    hypergradient: ``first_order``, ``second_order_exact`` or ``second_order_fd``.
    fd_radius: norm of the weight perturbation of ``second_order_fd``
      (``eps = fd_radius / ||v||``; DARTS uses 0.01).
    step_order: ``alpha_first`` (the DARTS paper and its code: the alpha
      update on the validation batch, then the weight update with the new
      alpha) or ``weights_first`` (AutoDL's DARTS-V1: the weight update on
      the training batch, then the alpha update at the new weights).
    bn_stats_update: which forwards update the BN running statistics (where
      a BN tracks them): ``weight_step`` (the weight update's forward on the
      training batch only) or ``both_steps`` (also the alpha update's, as
      AutoDL's code does; see :mod:`nasjax.core.bilevel` for the second-order
      hypergradients).
    space: the search space (``name`` plus the space's fields; PC-DARTS'
      ``partial_channels`` K and ``edge_normalization``, which adds the
      edge logits betas to the search state; for NB201 ``conv_bias``, a bias
      on the cells' convolutions as AutoDL's search cells have).
    relaxation: how alpha becomes mixing weights: ``name`` (``softmax``,
      ``gumbel``, ``dirichlet``) plus that relaxation's fields (see
      :mod:`nasjax.core.relax`; :func:`nasjax.core.relax.relaxation_config` builds the
      block with its defaults).
    optimizer.weights: ``name`` ``sgd`` (momentum, Nesterov optional) or
      ``adam`` (``b1``, ``b2``, ``eps``; first-order search only), cosine lr
      from ``lr`` to ``lr_min`` per epoch, coupled ``weight_decay``,
      global-norm ``grad_clip`` (0 = off) over the norm of
      ``grad_clip_scope``: ``weights`` (the weight gradients; DARTS' code)
      or ``weights_and_alpha`` (PyTorch's ``clip_grad_norm_`` over all of
      AutoDL's ``network.parameters()``: alpha's gradient as PyTorch holds it
      at that point counts in the norm, see :mod:`nasjax.core.bilevel`).
    optimizer.alpha: Adam with coupled L2 ``weight_decay`` added to the
      gradient before the moments; alpha (and the edge-normalisation betas,
      which this optimiser updates too) initialised ``init_std * N(0, 1)``;
      no alpha/beta update during the first ``warmup_epochs`` epochs (the
      weights still train; PC-DARTS uses 15); ``frozen`` keeps alpha fixed
      for the whole run (darts-PT's fixed-alpha search: with
      ``init_std=0`` alpha stays uniform). ``init_offset`` is added to
      every logit and ``init_bias`` to the column of op ``init_bias_op``
      at the start (SA-DARTS' skip-biased recovery experiment).
    regularizers: one block per registered regulariser
      (:func:`nasjax.core.regularizers.default_regularizers`): ``sa``,
      ``beta_decay``, ``entropy``, ``l2``, ``dirichlet_kl`` (DrNAS; strength
      1e-3 is a default chosen here), ``flops`` (super-resolution spaces:
      lambda times the expected GMAC of the candidates at a 1280x720 output;
      strength 1e-3 is a default chosen here); each has ``enabled``, a
      strength ``schedule`` (``constant``, ``linear`` or ``slope``: SA's
      lambda_t = epoch / 5 is ``slope=0.2``, Beta-DARTS' 50 * epoch / 100
      ``slope=0.5``, the defaults of ``sa`` and
      ``beta_decay``) and ``apply_to`` (see :mod:`nasjax.core.regularizers`).

  Fields of a search run (:mod:`nasjax.run.search`):
    data: the task's data block; for classification
      :func:`nasjax.tasks.classification.data.data_config` (CIFAR-10 through
      tensorflow-datasets or an npz file, the weight/alpha split, augmentation).
    analysis: measurements at the end of epochs (:mod:`nasjax.analysis.epoch`):
      the Hessian of the validation loss w.r.t. alpha every
      ``hessian_every`` epochs (0 = never) by ``hessian_method`` (``full``:
      ``jax.hessian`` and ``eigvalsh``; ``lanczos`` or ``power``: Hessian-
      vector products, ``hessian_iters`` iterations) on ``hessian_batches``
      fixed batches of the alpha half; the discretisation gap (supernet vs
      argmax network with inherited weights, with and without BN
      recalibration on ``recalibration_batches`` batches of the weight half)
      every ``discretization_every`` epochs on the alpha half's first
      ``eval_limit`` examples (0 = all); ``early_stop``: DARTS-ES, stop when
      the mean eigenvalue of the last ``window`` measurements exceeds
      ``factor`` times that of the ``window`` before.
    eval: supernet accuracy on the test split every ``every_epochs`` epochs
      (0 = never), in batches of ``batch_size``, on the first ``limit``
      images (0 = all).
    checkpoint: ``keep`` the last k, save every ``every_epochs`` epochs,
      ``async_save``.
    log_every_steps: how often metrics are fetched, checked and written.
    nb201_table: the NAS-Bench-201 table for per-epoch accuracies; "" looks
      for ``$NASJAX_DATA_DIR/nb201.csv.gz``, "none" turns the look-up off.
    progress_bar: a progress bar with ETA on the terminal (process 0).
    compilation_cache: folder of the persistent XLA cache ("" = default,
      "off" = none).
    allow_resume_with_changes: resume a workdir although the config differs
      from the one it was started with (e.g. a lower lr after divergence).

  Fields of speed and scale (:mod:`nasjax.infra.parallel`, :mod:`nasjax.infra.seeds`):
    num_seeds: K independent searches (seeds ``seed`` .. ``seed + K - 1``:
      own initialisation, data order and random streams) run as one
      program (vmapped on GPU and TPU, looped on the CPU: :mod:`nasjax.infra.seeds`);
      each seed writes its outputs to ``seed_<s>/`` of the workdir, and
      ``seeds_summary.json`` holds mean and std over seeds.
    steps_per_call: search steps fused into one host call by ``lax.scan``
      (input for all of them is sent to the devices ahead); a call never
      spans a logging point or an epoch end.
    precision: ``float32``, ``bfloat16`` (activations and arithmetic of the
      search step in bfloat16; weights, alpha, BN statistics and optimiser
      state stay float32) or ``auto`` (bfloat16 on GPU and TPU, float32 on
      CPU).
    distributed: multi-process settings (:mod:`nasjax.infra.distributed`).
    The batch of every step is split over all devices (:mod:`nasjax.infra.parallel`);
    ``batch_size`` is the global batch and must be a multiple of the device
    count.
  """
  c = ConfigDict()
  c.seed = 0
  c.epochs = 50
  c.batch_size = 64
  c.hypergradient = "first_order"
  c.fd_radius = 0.01
  c.step_order = "alpha_first"
  c.bn_stats_update = "weight_step"
  c.space = ConfigDict(
    dict(
      name="nb201",
      channels=16,
      cells_per_stage=5,
      num_classes=10,
      ops=NB201_OPS,
      track_running_stats=False,
      scan_cells=True,
      partial_channels=1,
      edge_normalization=False,
      conv_bias=False,
    )
  )
  c.relaxation = ConfigDict(dict(name="softmax", temperature=1.0))
  c.optimizer = ConfigDict()
  c.optimizer.weights = ConfigDict(
    dict(
      name="sgd",
      lr=0.025,
      lr_min=0.001,
      momentum=0.9,
      nesterov=False,
      weight_decay=3e-4,
      grad_clip=5.0,
      grad_clip_scope="weights",
      b1=0.9,
      b2=0.999,
      eps=1e-8,
    )
  )
  c.optimizer.alpha = ConfigDict(
    dict(
      lr=3e-4,
      b1=0.5,
      b2=0.999,
      eps=1e-8,
      weight_decay=1e-3,
      init_std=1e-3,
      init_offset=0.0,
      init_bias=0.0,
      init_bias_op="skip_connect",
      warmup_epochs=0,
      frozen=False,
    )
  )
  c.regularizers = ConfigDict(default_regularizers())
  c.data = data_config()
  c.eval = ConfigDict(dict(every_epochs=1, batch_size=256, limit=0))
  c.analysis = ConfigDict(
    dict(
      hessian_every=0,
      hessian_method="full",
      hessian_iters=20,
      hessian_batches=1,
      discretization_every=0,
      recalibration_batches=8,
      eval_limit=0,
      early_stop=ConfigDict(dict(enabled=False, window=5, factor=1.3)),
    )
  )
  c.checkpoint = ConfigDict(dict(keep=3, every_epochs=1, async_save=True))
  c.log_every_steps = 20
  c.nb201_table = ""
  c.progress_bar = True
  c.compilation_cache = ""
  c.allow_resume_with_changes = False
  c.num_seeds = 1
  c.steps_per_call = 1
  c.precision = "auto"
  c.distributed = distributed_config()
  return c


def parse_variants(arg: str | None, known: tuple[str, ...]) -> set[str]:
  """The comma-separated variants after ``config.py:`` (e.g. ``runlocal,fd``).

  Raises:
    ConfigError: for a variant the config file does not know.
  """
  variants = {v.strip() for v in (arg or "").split(",") if v.strip()}
  unknown = sorted(variants - set(known))
  if unknown:
    raise ConfigError(f"unknown config variant(s) {unknown}; this config knows {sorted(known)}")
  return variants


def validate_search_config(config: ConfigDict) -> None:
  """Checks every field the search core reads.

  Raises:
    ConfigError: with one sentence naming the field, the bad value, and what
      is accepted.
  """
  integer(config.seed, "config.seed")
  check(
    isinstance(config.epochs, int) and config.epochs >= 1,
    f"config.epochs must be an integer >= 1, got {config.epochs!r}",
  )
  check(
    isinstance(config.batch_size, int) and config.batch_size >= 1,
    f"config.batch_size must be an integer >= 1, got {config.batch_size!r}",
  )
  check(
    config.hypergradient in HYPERGRADIENTS,
    f"config.hypergradient must be one of {sorted(HYPERGRADIENTS)}, got {config.hypergradient!r}",
  )
  positive(config.fd_radius, "config.fd_radius")
  _validate_step_protocol(config)
  check(
    config.space.name in SPACES,
    f"unknown search space config.space.name={config.space.name!r}; choose one of {sorted(SPACES)}",
  )
  space = get_space(config.space.name)
  space.validate(config.space)
  _validate_weight_optimizer(config)
  _validate_alpha_optimizer(config)
  if "analysis" in config:
    _validate_analysis(config.analysis)
  one_of(config.get("precision", "float32"), PRECISIONS, "config.precision")
  _validate_scale_fields(config)
  get_task(space.task).validate_data(config)
  validate_run_fields(config)
  # The builders check regulariser and relaxation names, fields and values.
  relaxation = make_relaxation(config.relaxation, total_epochs=config.epochs)
  make_regularizer(config.regularizers, config.epochs, relaxation.probs, space.costs(config.space))
  names = sorted(space.alpha_shapes(config.space))
  for reg_name, reg in config.regularizers.items():
    chosen = reg.get("tensors", ()) or ()
    check(
      not isinstance(chosen, str) and all(t in names for t in chosen),
      f"config.regularizers.{reg_name}.tensors={chosen!r} names no alpha tensors of this "
      f"space; choose from {names} (empty = all)",
    )


def _validate_step_protocol(config: ConfigDict) -> None:
  """``step_order``, ``bn_stats_update`` and ``optimizer.weights.grad_clip_scope``."""
  one_of(config.get("step_order", "alpha_first"), STEP_ORDERS, "config.step_order")
  one_of(config.get("bn_stats_update", "weight_step"), BN_STATS_UPDATES, "config.bn_stats_update")
  one_of(
    config.optimizer.weights.get("grad_clip_scope", "weights"),
    GRAD_CLIP_SCOPES,
    "config.optimizer.weights.grad_clip_scope",
  )


def _validate_weight_optimizer(config: ConfigDict) -> None:
  w = config.optimizer.weights
  check(
    w.get("name", "sgd") in WEIGHT_OPTIMIZERS,
    f"config.optimizer.weights.name must be one of {list(WEIGHT_OPTIMIZERS)}, got {w.name!r}",
  )
  check(
    w.get("name", "sgd") == "sgd" or config.hypergradient == "first_order",
    f"config.hypergradient={config.hypergradient!r} differentiates through an SGD step; set "
    "--config.optimizer.weights.name=sgd or --config.hypergradient=first_order",
  )
  positive(w.lr, "config.optimizer.weights.lr")
  non_negative(w.lr_min, "config.optimizer.weights.lr_min")
  check(
    w.lr_min <= w.lr,
    f"config.optimizer.weights.lr_min ({w.lr_min}) must not exceed "
    f"config.optimizer.weights.lr ({w.lr})",
  )
  in_unit(w.momentum, "config.optimizer.weights.momentum")
  non_negative(w.weight_decay, "config.optimizer.weights.weight_decay")
  non_negative(w.grad_clip, "config.optimizer.weights.grad_clip")


def _validate_alpha_optimizer(config: ConfigDict) -> None:
  a = config.optimizer.alpha
  positive(a.lr, "config.optimizer.alpha.lr")
  in_unit(a.b1, "config.optimizer.alpha.b1")
  in_unit(a.b2, "config.optimizer.alpha.b2")
  positive(a.eps, "config.optimizer.alpha.eps")
  non_negative(a.weight_decay, "config.optimizer.alpha.weight_decay")
  non_negative(a.init_std, "config.optimizer.alpha.init_std")
  integer(a.get("warmup_epochs", 0), "config.optimizer.alpha.warmup_epochs", low=0)
  boolean(a.get("frozen", False), "config.optimizer.alpha.frozen")
  for field in ("init_offset", "init_bias"):
    number(a.get(field, 0.0), f"config.optimizer.alpha.{field}")
  if a.get("init_bias", 0.0):
    rows = get_space(config.space.name).ops_per_row(config.space).values()
    ops = {op for per_row in rows for row in per_row for op in row}
    check(
      a.get("init_bias_op") in ops,
      f"config.optimizer.alpha.init_bias_op={a.get('init_bias_op')!r} is not an op of this "
      f"space; choose one of {sorted(ops)}",
    )


def _validate_analysis(an: ConfigDict) -> None:
  for field in ("hessian_every", "discretization_every", "eval_limit"):
    integer(an[field], f"config.analysis.{field}", low=0)
  for field in ("hessian_iters", "hessian_batches", "recalibration_batches"):
    integer(an[field], f"config.analysis.{field}", low=1)
  one_of(an.hessian_method, HESSIAN_METHODS, "config.analysis.hessian_method")
  es = an.early_stop
  boolean(es.enabled, "config.analysis.early_stop.enabled")
  check(
    isinstance(es.window, int) and es.window >= 1,
    f"config.analysis.early_stop.window must be an integer >= 1, got {es.window!r}",
  )
  check(
    isinstance(es.factor, (int, float)) and es.factor > 1,
    f"config.analysis.early_stop.factor must be > 1, got {es.factor!r}",
  )
  check(
    not es.enabled or an.hessian_every == 1,
    "config.analysis.early_stop (DARTS-ES) compares per-epoch eigenvalues: set "
    "--config.analysis.hessian_every=1",
  )


def _validate_scale_fields(config: ConfigDict) -> None:
  """``num_seeds``, ``steps_per_call`` and ``distributed`` of a search run."""
  for field in ("num_seeds", "steps_per_call"):
    integer(config.get(field, 1), f"config.{field}", low=1)
  if config.get("num_seeds", 1) > 1 and config.analysis.early_stop.enabled:
    raise ConfigError(
      "config.analysis.early_stop stops each seed at a different epoch, which one "
      "program of config.num_seeds seeds cannot do; run the seeds one by one "
      "(--config.num_seeds=1) or turn early stopping off"
    )
  if "distributed" in config:
    validate_distributed(config.distributed)
