"""The fields every run config has, and their checks: evaluation, checkpoints, logging, size.

Search, retraining and selection configs share the ``eval``,
``checkpoint`` and ``log_every_steps`` fields (:func:`validate_run_fields`);
retrain configs share their top-level sizes, optimiser name and learning
rate (:func:`validate_train_basics`).
"""

from __future__ import annotations

from collections.abc import Collection

import ml_collections

from nasjax.checks import check, integer, non_negative, one_of, positive
from nasjax.core.optimizers import WEIGHT_OPTIMIZERS
from nasjax.infra.distributed import validate_distributed

ConfigDict = ml_collections.ConfigDict


def validate_run_fields(config: ConfigDict) -> None:
  """Checks the evaluation, checkpoint and logging fields shared by search and retrain configs.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  non_negative(config.eval.every_epochs, "config.eval.every_epochs")
  positive(config.eval.batch_size, "config.eval.batch_size")
  non_negative(config.eval.limit, "config.eval.limit")
  for field in ("keep", "every_epochs"):
    value = config.checkpoint[field]
    check(
      isinstance(value, int) and value >= 1,
      f"config.checkpoint.{field} must be an integer >= 1, got {value!r}",
    )
  check(
    isinstance(config.log_every_steps, int) and config.log_every_steps >= 1,
    f"config.log_every_steps must be an integer >= 1, got {config.log_every_steps!r}",
  )


def validate_train_basics(config: ConfigDict, known: Collection[str], what: str) -> None:
  """Checks what every retrain config has: its field names, sizes, optimiser name and lr.

  Args:
    config: the config.
    known: its valid top-level fields.
    what: how errors name the config, e.g. ``'an SR retrain config'``.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  unknown = sorted(set(config.keys()) - set(known))
  check(not unknown, f"{what} has no field(s) {unknown}; its fields are {sorted(known)}")
  if "distributed" in config:
    validate_distributed(config.distributed)
  for field in ("seed", "epochs", "batch_size"):
    integer(config[field], f"config.{field}", low=0 if field == "seed" else 1)
  one_of(config.optimizer.name, WEIGHT_OPTIMIZERS, "config.optimizer.name")
  positive(config.optimizer.lr, "config.optimizer.lr")
