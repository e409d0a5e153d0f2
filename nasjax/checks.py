"""The checks every config validator is made of: one sentence per impossible value.

Each helper raises :class:`~nasjax.errors.ConfigError` naming the field
(``where``, e.g. ``'config.optimizer.alpha.lr'``), the value it got and what
it accepts. The validators of search, retrain and selection configs
(:mod:`nasjax.config`), of each space's ``config.space`` block, each task's
``config.data`` block, each regulariser and relaxation and the
``distributed`` block are written with them; :mod:`nasjax.config` exports
them too. They sit below every other module (they import only
:mod:`nasjax.errors`), so any module can check its own config block.

Example:
  >>> from nasjax import checks
  >>> checks.positive(0.1, "config.optimizer.alpha.lr")
  >>> checks.integer(0, "config.epochs", low=1)
  Traceback (most recent call last):
  ...
  nasjax.errors.ConfigError: config.epochs must be an integer >= 1, got 0
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import numpy as np

from nasjax.errors import ConfigError


def check(ok: bool, message: str) -> None:
  """Raises ``ConfigError(message)`` unless ``ok``."""
  if not ok:
    raise ConfigError(message)


def is_number(value: Any) -> bool:
  """Whether ``value`` is an int or a float (not a bool)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
  """Whether ``value`` is an int or a numpy integer (not a bool)."""
  return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def number(value: Any, where: str) -> None:
  """``value`` must be a number."""
  check(is_number(value), f"{where} must be a number, got {value!r}")


def positive(value: Any, where: str) -> None:
  """``value`` must be a number > 0."""
  check(is_number(value) and value > 0, f"{where} must be > 0, got {value!r}")


def non_negative(value: Any, where: str) -> None:
  """``value`` must be a number >= 0."""
  check(is_number(value) and value >= 0, f"{where} must be >= 0, got {value!r}")


def in_unit(value: Any, where: str) -> None:
  """``value`` must be a number in ``[0, 1)`` (a momentum, an Adam beta, a drop rate)."""
  check(is_number(value) and 0 <= value < 1, f"{where} must be in [0, 1), got {value!r}")


def integer(value: Any, where: str, low: int | None = None, high: int | None = None) -> None:
  """``value`` must be an integer (not a bool), ``>= low`` and ``<= high`` where given."""
  ok = is_int(value) and (low is None or value >= low) and (high is None or value <= high)
  if low is not None and high is not None:
    bounds = f" in [{low}, {high}]"
  elif low is not None:
    bounds = f" >= {low}"
  elif high is not None:
    bounds = f" <= {high}"
  else:
    bounds = ""
  check(ok, f"{where} must be an integer{bounds}, got {value!r}")


def boolean(value: Any, where: str) -> None:
  """``value`` must be True or False."""
  check(isinstance(value, bool), f"{where} must be True or False, got {value!r}")


def one_of(value: Any, choices: Iterable[Any], where: str) -> None:
  """``value`` must be one of ``choices`` (listed in the message in their order)."""
  choices = list(choices)
  check(value in choices, f"{where} must be one of {choices}, got {value!r}")


def known_fields(cfg: Any, known: Collection[str], where: str, what: str = "") -> None:
  """Every key of ``cfg`` (a ConfigDict or dict) must be in ``known``.

  Args:
    cfg: the block.
    known: its valid field names.
    where: the block's name, e.g. ``'config.space'``.
    what: what the block belongs to, e.g. ``" for space 'nb201'"``.
  """
  unknown = sorted(set(cfg.keys()) - set(known))
  check(
    not unknown,
    f"{where} has no field(s) {unknown}{what}; its fields are {sorted(known)}",
  )
