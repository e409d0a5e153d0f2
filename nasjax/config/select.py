"""The settings of the read-outs of a finished search: selection and after-the-fact analysis.

:func:`select_config` holds the fields of ``python -m nasjax.select``
(argmax, perturbation-based selection, the single-stage protocol) and
:func:`validate_select_config` checks them; :func:`analyze_config` holds the
fields of ``python -m nasjax.analyze``.
"""

from __future__ import annotations

import ml_collections

from nasjax.checks import check
from nasjax.core.perturbation import CRITERIA, EDGE_ORDERS

ConfigDict = ml_collections.ConfigDict

#: The selection methods of ``python -m nasjax.select --method``.
METHODS = ("argmax", "pt", "single_stage")


def select_config() -> ConfigDict:
  """Defaults of a selection run (``--config.<field>`` on the command line).

  Fields:
    seed: seeds PT's random edge order.
    val_limit: validation examples (the search's alpha half) used to score
      and measure; 0 = all.
    allow_unfinished: select from a search that has not finished.
    pt: ``proj_interval`` (fine-tuning epochs between decisions; 5),
      ``edge_order`` (``random`` or ``fixed``), ``criterion`` (``acc`` or
      ``loss``), ``lr``/``lr_min`` of the reset weight optimiser (0.0025 cosine
      to 0.001), ``tune_alpha`` (alpha of undecided edges keeps training while
      fine-tuning, as darts-PT does), ``allow_none`` (``none`` may be chosen).
    single_stage: ``epochs`` of continued training (0 = as many as the
      search had; a default chosen here), ``lr``/``lr_min`` (cosine),
      ``both_halves`` (train the weights on the whole training set),
      ``prune_threshold`` (spaces that support it, the trellis: paths and
      ops whose frozen weight is below it are removed before the weights
      train on; 0 = keep all).
    recalibration_batches: batches of the weight half that re-estimate BN
      statistics for the derived network (``argmax``).
    eval: test-split evaluation (``batch_size``, ``limit``; 0 = all).
    checkpoint, log_every_steps, progress_bar, allow_resume_with_changes:
      as in a search config.
  """
  c = ConfigDict()
  c.seed = 0
  c.val_limit = 0
  c.allow_unfinished = False
  c.pt = ConfigDict(
    dict(
      proj_interval=5,
      edge_order="random",
      criterion="acc",
      lr=0.0025,
      lr_min=0.001,
      tune_alpha=True,
      allow_none=False,
    )
  )
  c.single_stage = ConfigDict(
    dict(epochs=0, lr=0.025, lr_min=0.001, both_halves=False, prune_threshold=0.0)
  )
  c.recalibration_batches = 8
  c.eval = ConfigDict(dict(batch_size=256, limit=0))
  c.checkpoint = ConfigDict(dict(keep=3, every_epochs=1, async_save=True))
  c.log_every_steps = 20
  c.progress_bar = True
  c.allow_resume_with_changes = False
  return c


def validate_select_config(config: ConfigDict, method: str) -> None:
  """Checks a selection config and method.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  check(method in METHODS, f"--method must be one of {list(METHODS)}, got {method!r}")
  pt = config.pt
  check(
    isinstance(pt.proj_interval, int) and pt.proj_interval >= 1,
    f"config.pt.proj_interval must be an integer >= 1, got {pt.proj_interval!r}",
  )
  check(
    pt.edge_order in EDGE_ORDERS,
    f"config.pt.edge_order must be one of {list(EDGE_ORDERS)}, got {pt.edge_order!r}",
  )
  check(
    pt.criterion in CRITERIA,
    f"config.pt.criterion must be one of {list(CRITERIA)}, got {pt.criterion!r}",
  )
  ss = config.single_stage
  check(
    isinstance(ss.epochs, int) and ss.epochs >= 0,
    f"config.single_stage.epochs must be an integer >= 0, got {ss.epochs!r}",
  )
  for block, name in ((pt, "pt"), (ss, "single_stage")):
    check(block.lr > 0, f"config.{name}.lr must be > 0, got {block.lr!r}")
    check(
      0 <= block.lr_min <= block.lr,
      f"config.{name}.lr_min must be in [0, config.{name}.lr], got {block.lr_min!r}",
    )
  check(
    isinstance(ss.prune_threshold, (int, float)) and 0 <= ss.prune_threshold < 1,
    f"config.single_stage.prune_threshold must be in [0, 1), got {ss.prune_threshold!r}",
  )
  for field in ("val_limit",):
    check(
      isinstance(config[field], int) and config[field] >= 0,
      f"config.{field} must be an integer >= 0, got {config[field]!r}",
    )
  check(
    isinstance(config.recalibration_batches, int) and config.recalibration_batches >= 1,
    f"config.recalibration_batches must be an integer >= 1, got {config.recalibration_batches!r}",
  )


def analyze_config() -> ConfigDict:
  """Settings of ``nasjax.analyze`` (``--config.<field>``).

  Fields:
    method: ``full`` (``jax.hessian`` + ``eigvalsh``), ``lanczos`` or ``power``.
    iters: Lanczos / power iterations.
    batches: fixed batches of the alpha half the loss is averaged over.
  """
  return ConfigDict(dict(method="full", iters=20, batches=1))
