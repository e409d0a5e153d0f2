"""Measurements a search takes at the end of epochs (``config.analysis``).

* **Hessian** every ``hessian_every`` epochs: the spectrum of the Hessian of
  the validation loss w.r.t. alpha (:mod:`nasjax.analysis.hessian`) on
  ``hessian_batches`` fixed batches of the alpha half (unaugmented, the same
  examples every time, so the curve shows the landscape and not the data).
  The dominant eigenvalue goes into ``metrics.jsonl`` as ``hessian/max_eig``;
  the eigenvalues into ``hessian.jsonl``.
* **Discretisation gap** every ``discretization_every`` epochs: validation
  accuracy of the supernet vs the argmax network with inherited weights,
  with and without BN recalibration (:mod:`nasjax.core.discretization`), on the
  alpha half; ``discretization/*`` in ``metrics.jsonl``.
* **DARTS-ES** (``early_stop.enabled``): RobustDARTS' rule on the eigenvalues
  (:func:`nasjax.analysis.hessian.should_stop_early`); the search stops and reports
  the architecture of ``window`` epochs before (``early_stop.json``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import jax
import numpy as np
from ml_collections import ConfigDict

from nasjax.analysis import hessian
from nasjax.core import discretization
from nasjax.run.records import GenotypeLog


def _stack(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  return {k: np.stack([b[k] for b in batches]) for k in ("image", "label")}


def hessian_batches(search_data: Any, count: int, batch_size: int) -> dict[str, np.ndarray]:
  """``count`` full batches of the alpha half, stacked on a leading axis (fixed examples)."""
  available = len(search_data.alpha_idx) // batch_size
  count = max(1, min(count, available))
  batches = list(search_data.half_batches("alpha", batch_size, count * batch_size))
  return _stack(batches)


def discretization_on_halves(
  setup: Any,
  state: Any,
  search_data: Any,
  batch_size: int,
  eval_limit: int = 0,
  recalibration_batches: int = 8,
) -> dict[str, float]:
  """The discretisation gap of ``state`` on a search's own data.

  Accuracies on the alpha half (its first ``eval_limit`` examples; 0 = all),
  BN recalibrated on the first ``recalibration_batches`` batches of the
  weight half (:func:`nasjax.core.discretization.discretization_error`).
  """
  return discretization.discretization_error(
    setup,
    state,
    lambda: search_data.half_batches("alpha", batch_size, eval_limit),
    lambda: itertools.islice(search_data.half_batches("weight", batch_size), recalibration_batches),
  )


class EpochAnalysis:
  """The end-of-epoch measurements of one search.

  Args:
    config: the search config (its ``analysis`` block).
    setup: the search's :class:`~nasjax.core.bilevel.SearchSetup`.
    search_data: the search's :class:`~nasjax.tasks.classification.data.SearchData`.
    workdir: where ``hessian.jsonl`` goes.
    is_main: this process writes files.
  """

  def __init__(
    self, config: ConfigDict, setup: Any, search_data: Any, workdir: Path, is_main: bool
  ):
    an = config.get("analysis", None)
    self.enabled = an is not None
    self.cfg = an
    self.setup, self.data, self.config = setup, search_data, config
    self.log = GenotypeLog(workdir, is_main, filename="hessian.jsonl")
    self._hessian_fn = None
    self._hessian_batches = None

  def _due(self, every: int, epoch: int) -> bool:
    return bool(self.enabled and every and epoch % every == 0)

  def truncate_after(self, step: int) -> None:
    self.log.truncate_after(step)

  def hessian(self, state) -> dict[str, Any]:
    """The Hessian measurement of ``state`` (see the module docstring)."""
    if self._hessian_fn is None:
      self._hessian_fn = hessian.make_hessian_fn(
        self.setup, self.cfg.hessian_method, self.cfg.hessian_iters
      )
      self._hessian_batches = hessian_batches(
        self.data, self.cfg.hessian_batches, self.config.batch_size
      )
    out = jax.device_get(self._hessian_fn(state, self._hessian_batches))
    return {"max_eig": float(out["max_eig"]), "eigenvalues": np.asarray(out["eigenvalues"])}

  def discretization(self, state) -> dict[str, float]:
    """Supernet vs derived-network accuracy of ``state`` on the alpha half."""
    return discretization_on_halves(
      self.setup,
      state,
      self.data,
      self.config.eval.batch_size,
      self.cfg.eval_limit,
      self.cfg.recalibration_batches,
    )

  def measure(self, state, epoch: int, step: int) -> dict[str, float]:
    """The measurements due at the end of ``epoch`` (scalars for ``metrics.jsonl``)."""
    out: dict[str, float] = {}
    if not self.enabled:
      return out
    if self._due(self.cfg.hessian_every, epoch):
      h = self.hessian(state)
      out["hessian/max_eig"] = h["max_eig"]
      self.log.append(
        {
          "epoch": epoch,
          "step": step,
          "max_eig": h["max_eig"],
          "method": self.cfg.hessian_method,
          "eigenvalues": h["eigenvalues"].tolist(),
        }
      )
    if self._due(self.cfg.discretization_every, epoch):
      out.update(self.discretization(state))
    return out

  def early_stop(self) -> dict[str, Any] | None:
    """DARTS-ES: the stop record (epoch, step, selected_epoch, ...) when due, else None."""
    if not (self.enabled and self.cfg.early_stop.enabled):
      return None
    records = self.log.read()
    eigs = [r["max_eig"] for r in records]
    es = self.cfg.early_stop
    if not hessian.should_stop_early(eigs, es.window, es.factor):
      return None
    last = records[-1]
    return {
      "epoch": int(last["epoch"]),
      "step": int(last["step"]),
      "selected_epoch": int(records[-1 - es.window]["epoch"]),
      "window": es.window,
      "factor": es.factor,
      "eigenvalues": eigs,
    }
