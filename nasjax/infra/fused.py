"""Several steps per host call: the step under ``lax.scan``, and where calls may end.

``config.steps_per_call = n`` makes one host call run ``n`` steps in one
compiled program: the batches of the ``n`` steps are stacked along a new
leading axis and sent to the devices ahead (:func:`nasjax.infra.parallel.prefetch`),
and the metrics come back stacked the same way. The host only waits for the
devices where it must read metrics: at logging points and epoch ends, which
no call spans (:func:`call_bounds`), so a run logs, checkpoints and resumes at
the same steps whatever ``n`` is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np


def scan_steps(step: Callable[..., tuple[Any, Any]]) -> Callable[..., tuple[Any, Any]]:
  """``step(state, *batch) -> (state, metrics)`` turned into a scan over stacked batches.

  The result takes ``(state, *batches)`` whose every leaf has a leading axis
  of length ``n`` (the steps of the call) and returns the state after the
  ``n`` steps and the metrics of each step, stacked along that axis.
  """

  def steps(state: Any, *batches: Any) -> tuple[Any, Any]:
    return jax.lax.scan(lambda s, b: step(s, *b), state, batches)

  return steps


def call_bounds(
  start: int, total: int, steps_per_call: int, steps_per_epoch: int, log_every: int
) -> Iterator[tuple[int, int]]:
  """``(begin, end)`` of each host call from step ``start`` to ``total``.

  A call runs at most ``steps_per_call`` steps and ends at every multiple of
  ``steps_per_call``, at every logging point (a multiple of ``log_every``)
  and at every epoch end, so calls line up the same way in a resumed run.
  """
  step = start
  while step < total:
    end = min(
      total,
      (step // steps_per_call + 1) * steps_per_call,
      (step // log_every + 1) * log_every,
      (step // steps_per_epoch + 1) * steps_per_epoch,
    )
    yield step, end
    step = end


def stack(items: list[Any]) -> Any:
  """Stacks a list of equal pytrees along a new leading axis (host arrays).

  Batches of the steps of a call are stacked this way, and the states and
  batches of the seeds of a multi-seed run (:mod:`nasjax.infra.seeds`).
  """
  return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *items)


def take(tree: Any, i: int) -> Any:
  """Entry ``i`` along the leading axis of every leaf of a stacked tree."""
  return jax.tree.map(lambda x: x[i], tree)


def unstack(tree: Any, n: int) -> list[Any]:
  """The ``n`` pytrees along the leading axis of ``tree``."""
  return [take(tree, i) for i in range(n)]
