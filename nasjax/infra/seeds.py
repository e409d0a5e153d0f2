"""Independent searches as one batch: ``config.num_seeds`` seeds in one compiled program.

Seed ``i`` of a run with ``config.seed = s`` is the search ``config.seed = s + i``
would run alone: its own initialisation, its own data order and its own
random streams. The states of the K seeds are stacked along a new leading
axis and the step runs all K of them in one compiled program
(:func:`batched_step`): ``jax.vmap`` on GPU and TPU, so the K searches share
every kernel launch and the devices' spare width; ``lax.map`` on the CPU.
Each seed logs into its own folder ``seed_<s+i>/`` of the workdir; the run's
checkpoints hold the stacked state (:func:`nasjax.infra.fused.stack`);
``seeds_summary.json`` gives mean and standard deviation over seeds of the
final figures (NAS-Bench-201 accuracies when the table is configured).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

SUMMARY_FILENAME = "seeds_summary.json"


def seed_list(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds of a run: ``seed, seed + 1, ..., seed + num_seeds - 1``."""
  return [config.seed + i for i in range(config.get("num_seeds", 1))]


def seed_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
  """``config`` as the single-seed search of ``seed``."""
  one = ml_collections.ConfigDict(config.to_dict())
  one.seed = seed
  one.num_seeds = 1
  return one


def seed_dir(workdir: Path, seed: int) -> Path:
  """Where seed ``seed`` of a multi-seed run writes its metrics and genotypes."""
  return Path(workdir) / f"seed_{seed}"


def batched_step(step: Callable[..., tuple[Any, Any]], backend: str | None = None) -> Callable:
  """``step(state, *batches)`` over seeds stacked along the leading axis of every argument.

  On GPU and TPU this is ``jax.vmap(step)``. On the CPU it is ``lax.map``
  (one seed after the other inside the one program): vmapping a convolution
  over its kernel makes it a grouped convolution, which XLA's CPU backend
  runs on a slow generic path (4 seeds of an NB201 convolution's forward and
  backward pass cost 8-9x one seed vmapped, 2.5x looped).

  Args:
    step: the single-seed step.
    backend: ``jax.default_backend()`` unless given.
  """
  if (backend or jax.default_backend()) != "cpu":
    return jax.vmap(step)

  def looped(*args: Any) -> tuple[Any, Any]:
    return jax.lax.map(lambda one: step(*one), args)

  return looped


def mean_std(values: list[float]) -> dict[str, float]:
  """``{'mean', 'std', 'n'}`` of ``values`` (std with ``n - 1``; 0 for one value)."""
  arr = np.asarray(values, np.float64)
  std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
  return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}


def summarize(seeds: list[int], results: list[Any]) -> dict[str, Any]:
  """Mean and std over seeds of every numeric benchmark field and last-epoch metric.

  Args:
    seeds: the seeds, in the order of ``results``.
    results: one :class:`~nasjax.search.SearchResult` per seed.

  Returns:
    ``{'seeds', 'genotypes', 'benchmark': {field: {mean, std, n}}, 'last_epoch': {...}}``
    (``benchmark`` is empty without a NAS-Bench-201 table).
  """

  def numeric(records: list[dict[str, Any] | None]) -> dict[str, dict[str, float]]:
    records = [r for r in records if r]
    if not records:
      return {}
    keys = [k for k, v in records[0].items() if isinstance(v, (int, float)) and k != "index"]
    out = {}
    for k in keys:
      values = [float(r[k]) for r in records if isinstance(r.get(k), (int, float))]
      if values and all(math.isfinite(v) for v in values):
        out[k] = mean_std(values)
    return out

  return {
    "seeds": list(seeds),
    "genotypes": [str(r.genotype) for r in results],
    "benchmark": numeric([r.benchmark for r in results]),
    "last_epoch": numeric([r.last_epoch for r in results]),
  }


def summary_lines(summary: dict[str, Any]) -> list[str]:
  """The summary as printed at the end of a multi-seed run."""
  lines = [f"{len(summary['seeds'])} seeds {summary['seeds']}:"]
  bench = summary["benchmark"]
  shown = ("cifar10_valid", "cifar10_test", "cifar100_valid", "cifar100_test")
  shown += ("imagenet16_valid", "imagenet16_test")
  parts = [
    f"{k.replace('_', ' ')} {bench[k]['mean']:.2f} ± {bench[k]['std']:.2f}"
    for k in shown
    if k in bench
  ]
  if parts:
    lines.append("NAS-Bench-201 (mean ± std over seeds): " + ", ".join(parts))
  return lines
