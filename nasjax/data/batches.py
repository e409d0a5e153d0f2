"""Batches as a pure function of the step: each process's rows, and a prefetching iterator.

Every task's data reads the batch of step ``t`` as a function of the seed and
``t`` alone, so a resumed run needs no iterator state, and the global batch
does not depend on the number of processes: process ``p`` of ``P`` takes
rows ``[p B/P, (p+1) B/P)`` (:func:`process_rows`). :class:`StepBatches`
gives such a data class its prefetching iterator.
"""

from __future__ import annotations

import abc
import queue
import threading
from collections.abc import Iterator
from typing import Any

from nasjax.errors import ConfigError


def process_rows(batch_size: int, process_index: int, process_count: int) -> slice:
  """This process's rows of every global batch of ``batch_size``.

  Raises:
    ConfigError: when the batch cannot be shared equally by the processes.
  """
  if batch_size % process_count:
    raise ConfigError(
      f"config.batch_size={batch_size} must be divisible by the number of "
      f"processes ({process_count})"
    )
  share = batch_size // process_count
  return slice(process_index * share, (process_index + 1) * share)


class StepBatches(abc.ABC):
  """The prefetching iterator of a data class whose ``batch(step)`` is a function of the step."""

  @abc.abstractmethod
  def batch(self, step: int) -> Any:
    """The batch (or ``(train, val)`` pair) of step ``step``; each data class defines it."""

  def batches(self, start: int, stop: int, prefetch: int = 2) -> Iterator[Any]:
    """Batches of steps ``start..stop-1``, prepared ``prefetch`` steps ahead in a thread."""
    q: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    done = threading.Event()

    def produce():
      try:
        for step in range(start, stop):
          if done.is_set():
            return
          q.put(self.batch(step))
      except BaseException as e:  # surfaced in the consumer
        q.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
      for _ in range(start, stop):
        item = q.get()
        if isinstance(item, BaseException):
          raise item
        yield item
    finally:
      done.set()
