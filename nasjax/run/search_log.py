"""A search run's records and results: per-seed logs, end-of-epoch measurements, final outputs.

:func:`nasjax.search.run` keeps one :class:`SeedLog` per seed (one in an
ordinary search): the metrics written at logging points and epoch ends, the
alpha history, the genotype per epoch and the end-of-epoch analysis, in that
seed's folder. :func:`header_lines` is what a search prints when it starts:
its step protocol and the resolved schedule of every enabled regulariser.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasjax.analysis.epoch import EpochAnalysis
from nasjax.core import projection
from nasjax.core.schedules import describe_schedule
from nasjax.infra import fused, parallel
from nasjax.infra.jsonfiles import write_json
from nasjax.run.records import AlphaHistory, GenotypeLog, MetricWriter, epoch_of_step
from nasjax.run.safety import check_finite, partial_epoch
from nasjax.run.safety import mean_metrics as _mean
from nasjax.spaces.registry import genotype_from_dict


def header_lines(config: Any) -> list[str]:
  """The step protocol and regulariser schedules of a search config, as the run prints them.

  The schedules are resolved against ``config.epochs`` as the search runs
  them (:func:`nasjax.core.schedules.describe_schedule`).

  Example:
    >>> from nasjax.config import sa_darts_protocol, search_config
    >>> config = sa_darts_protocol(search_config())
    >>> config.epochs = 10
    >>> print(header_lines(config)[-1])
    regularizer sa (logits): lambda_t = 0.2 * epoch (0 at epoch 0, 1.8 at epoch 9)
  """
  w = config.optimizer.weights
  order = config.get("step_order", "alpha_first")
  steps = "weight update, then alpha" if order == "weights_first" else "alpha update, then weights"
  both = config.get("bn_stats_update", "weight_step") == "both_steps"
  bn = "BN running statistics updated by " + ("both updates" if both else "the weight update")
  if config.space.get("track_running_stats", False):
    bn += " (search cells track them)"
  scope = "weights and alpha" if w.get("grad_clip_scope") == "weights_and_alpha" else "weights"
  clip = f"grad clip {w.grad_clip:g} over the {scope}" if w.grad_clip > 0 else "no grad clip"
  bias = "on" if config.space.get("conv_bias", False) else "off"
  lines = [f"step: {order} ({steps}), {config.hypergradient}; {bn}; {clip}; cell conv bias {bias}"]
  for name, reg in config.regularizers.items():
    if reg.get("enabled", False):
      where = reg.get("apply_to", "logits")
      lines.append(f"regularizer {name} ({where}): {describe_schedule(reg, config.epochs)}")
  return lines


def per_seed(pending, stacked_steps: bool, num_seeds: int) -> list[list[tuple[int, dict]]]:
  """Per seed, ``(step, host metrics)`` of each step of the pending calls."""
  fetched = jax.device_get([m for _, _, m in pending])
  out: list[list[tuple[int, dict]]] = [[] for _ in range(num_seeds)]
  for (begin, end, _), metrics in zip(pending, fetched, strict=True):
    steps = fused.unstack(metrics, end - begin) if stacked_steps else [metrics]
    for step, m in zip(range(begin, end), steps, strict=True):
      for i in range(num_seeds):
        one = fused.take(m, i) if num_seeds > 1 else m
        out[i].append((step, {k: float(v) for k, v in one.items()}))
  return out


def split_carried(carried: dict[str, Any], n: int) -> list[dict[str, Any]]:
  """A checkpoint's unfinished-epoch records, one per seed."""
  if not carried:
    return [{} for _ in range(n)]
  if "seeds" in carried:
    return list(carried["seeds"])
  return [carried]


class SeedLog:
  """One seed's records: metrics, alpha history, genotypes and end-of-epoch analysis."""

  def __init__(self, config, setup, op_names, search_data, out: Path, is_main: bool):
    self.config, self.setup, self.data, self.is_main = config, setup, search_data, is_main
    self.writer = MetricWriter(out, is_main)
    self.history = AlphaHistory(out, op_names, is_main, setup.space.renamed_alphas)
    self.genotypes = GenotypeLog(out, is_main)
    self.analysis = EpochAnalysis(config, setup.measurement(), search_data, out, is_main)
    self.epoch_records: list[dict[str, float]] = []
    self.carry: list[tuple[int, dict]] = []  # restored steps not yet logged
    self.last_epoch: dict[str, float] = {}

  def truncate_after(self, step: int) -> None:
    for record in (self.writer, self.history, self.genotypes, self.analysis):
      record.truncate_after(step)

  def restore_partial(self, partial: dict[str, Any]) -> None:
    """Takes back a checkpoint's unfinished epoch (:func:`nasjax.run.safety.partial_epoch`)."""
    self.epoch_records = list(partial.get("epoch", []))
    self.carry = [(r["step"], r["metrics"]) for r in partial.get("pending", [])]

  def partial(self, steps: list[tuple[int, dict]]) -> dict[str, Any]:
    """The unfinished epoch's records for a checkpoint's ``partial_epoch``."""
    return partial_epoch(self.epoch_records, self.carry + steps)

  def log_steps(self, steps, checkpointer, spe, done, step_time) -> dict[str, float]:
    """Checks, averages and writes the metrics of the steps since the last log line."""
    steps, self.carry = self.carry + steps, []
    fetched = [m for _, m in steps]
    check_finite([s for s, _ in steps], fetched, checkpointer, spe)
    summary = _mean(fetched)
    if step_time is not None:
      summary["step_time_s"] = step_time
    self.writer.write(done, epoch_of_step(done, spe), "train", summary)
    self.epoch_records.extend(fetched)
    return summary

  def end_of_epoch(self, state, eval_fn, epoch, done, table) -> dict[str, float]:
    self.last_epoch = end_of_epoch(
      self.config,
      self.setup,
      state,
      self.data,
      eval_fn,
      epoch,
      done,
      self.epoch_records,
      self.history,
      self.genotypes,
      table,
      self.writer,
      self.analysis,
    )
    self.epoch_records = []
    return self.last_epoch


def write_genotype(out: Path, result: Any, total, spe, stopped, op_names) -> None:
  write_json(
    out / "genotype.json",
    {
      "genotype": result.genotype.to_dict(),
      "benchmark": result.benchmark,
      "step": result.step,
      "epochs": total // spe,
      "early_stop": stopped,
      "probs": {k: v.tolist() for k, v in result.probs.items()},
      "betas": {k: v.tolist() for k, v in result.betas.items()},  # raw edge logits
      "op_names": list(op_names),
    },
  )


#: A genotype is read from an alpha this close to uniform (largest probability
#: within this fraction above 1/ops) only with a caveat: it is the initialisation plus noise.
NEAR_UNIFORM = 0.05


def near_uniform(probs: dict[str, np.ndarray]) -> tuple[float, float] | None:
  """``(largest probability, uniform)`` when no row of ``probs`` moved beyond NEAR_UNIFORM."""
  rows = [np.asarray(p).reshape(-1, np.shape(p)[-1]) for p in probs.values() if np.size(p)]
  if not rows:
    return None
  largest = max(float(r.max()) for r in rows)
  uniform = max(1.0 / r.shape[-1] for r in rows)
  return (largest, uniform) if largest <= uniform * (1 + NEAR_UNIFORM) else None


def result_lines(result: Any) -> list[str]:
  """What a finished search prints: the genotype, a caveat if alpha hardly moved, the benchmark.

  Example:
    >>> import types
    >>> probs = {"cell": np.full((6, 5), 0.2) + np.eye(6, 5) * 0.002}
    >>> line = result_lines(types.SimpleNamespace(genotype="G", probs=probs, benchmark=None))[1]
    >>> line.startswith("note: alpha has hardly moved (largest op probability 0.2020, uniform")
    True
  """
  lines = [f"genotype: {result.genotype}"]
  flat = near_uniform(getattr(result, "probs", {}) or {})
  if flat is not None:
    lines.append(
      f"note: alpha has hardly moved (largest op probability {flat[0]:.4f}, uniform "
      f"{flat[1]:.4f}): this genotype is the initialisation plus noise; search longer before "
      f"reading it"
    )
  if result.benchmark:
    b = result.benchmark
    lines.append(
      f"NAS-Bench-201: cifar10 valid {b['cifar10_valid']:.2f}, cifar10 test "
      f"{b['cifar10_test']:.2f}, cifar100 test {b['cifar100_test']:.2f}, "
      f"imagenet16 test {b['imagenet16_test']:.2f}"
    )
  return lines


def end_of_epoch(
  config,
  setup,
  state,
  search_data,
  eval_fn,
  epoch,
  step,
  records,
  history,
  genotypes,
  table,
  writer,
  analysis,
) -> dict[str, float]:
  summary = _mean(records)
  if config.eval.every_epochs and epoch % config.eval.every_epochs == 0:
    test = evaluate_test_split(
      eval_fn, state, search_data, config.eval.batch_size, config.eval.limit
    )
    metric = setup.task.metric
    summary["test/loss"], summary[f"test/{metric}"] = test["loss"], test[metric]
  summary.update(analysis.measure(state, epoch, step))
  alphas, betas = jax.device_get((state.alphas, state.betas))
  probs = jax.device_get(setup.relaxation.probs(state.alphas))
  history.append(epoch, step, alphas, probs, betas)
  genotype = derive(setup, state, probs, betas)
  record: dict[str, Any] = {"epoch": epoch, "step": step, "genotype": genotype.to_dict()}
  if table is not None:
    record["benchmark"] = table.lookup(genotype).to_dict()
    summary["nb201/cifar10_test"] = record["benchmark"]["cifar10_test"]
    summary["nb201/cifar100_test"] = record["benchmark"]["cifar100_test"]
  genotypes.append(record)
  writer.write(step, epoch, "epoch", summary)
  return summary


def evaluate_test_split(
  eval_fn: Callable[..., Any], state: Any, search_data: Any, batch_size: int, limit: int = 0
) -> dict[str, float]:
  """Example-weighted test loss and metric of ``eval_fn`` (``SearchSetup.evaluate``, jitted).

  Returns:
    ``{'loss', 'acc', 'count'}`` (``psnr`` for ``acc`` in super-resolution) over the test
    split's first ``limit`` images (0 = all).
  """
  state = parallel.local_view(state)  # evaluated by every process on its own devices
  results = [
    jax.device_get(eval_fn(state, batch)) for batch in search_data.eval_batches(batch_size, limit)
  ]
  count = sum(float(r["count"]) for r in results)
  return {
    **{
      k: sum(float(r[k]) * float(r["count"]) for r in results) / count
      for k in results[0]
      if k != "count"
    },
    "count": count,
  }


def derive(setup, state, probs, betas):
  """The argmax genotype, with decided and pruned edges (selection) applied to ``probs``."""
  if state.projection:
    probs = jax.device_get(projection.apply(probs, state.projection))
  return setup.space.derive_genotype(probs, setup.config.space, betas)


@dataclasses.dataclass
class SearchResult:
  """What a finished search returns (everything is also in its workdir).

  Attributes:
    workdir: where the outputs are.
    genotype: the final argmax genotype.
    alphas: the final architecture logits, ``{name: array}``.
    probs: their op probabilities (the relaxation's ``probs``).
    step: the number of search steps run in total.
    benchmark: the genotype's NAS-Bench-201 record (a dict), when the table is configured.
    last_epoch: the last epoch's summary metrics.
    betas: the final raw edge-normalisation logits, ``{name: array}`` (empty
      without edge normalisation).
  """

  workdir: Path
  genotype: Any
  alphas: dict[str, np.ndarray]
  probs: dict[str, np.ndarray]
  step: int
  benchmark: dict[str, Any] | None
  last_epoch: dict[str, float]
  betas: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class MultiSeedResult:
  """What a finished multi-seed search (``config.num_seeds > 1``) returns.

  Attributes:
    workdir: the run's folder; seed ``s`` wrote into ``workdir / f"seed_{s}"``.
    seeds: the seeds, in order.
    results: one :class:`SearchResult` per seed.
    summary: mean and std over seeds (also in ``seeds_summary.json``).
  """

  workdir: Path
  seeds: list[int]
  results: list[SearchResult]
  summary: dict[str, Any]


def final_result(
  config, setup, state, workdir, table, total, last_epoch, stopped=None
) -> SearchResult:
  alphas = {k: np.asarray(v) for k, v in jax.device_get(state.alphas).items()}
  betas = {k: np.asarray(v) for k, v in jax.device_get(state.betas).items()}
  probs = {k: np.asarray(v) for k, v in jax.device_get(setup.relaxation.probs(alphas)).items()}
  genotype = derive(setup, state, probs, betas)
  if stopped and stopped.get("genotype"):
    genotype = genotype_from_dict(stopped["genotype"])
  benchmark = table.lookup(genotype).to_dict() if table is not None else None
  return SearchResult(
    workdir=workdir,
    genotype=genotype,
    alphas=alphas,
    probs=probs,
    step=total,
    benchmark=benchmark,
    last_epoch=last_epoch,
    betas=betas,
  )


def final_results(search: Any, logs, state, total: int, stopped) -> list[SearchResult]:
  """Each seed's result, its ``genotype.json`` written."""
  local = parallel.local_view(state)
  op_names = search.setup.space.op_names(search.config.space)
  results = []
  for i, out in enumerate(search.outs):
    one = fused.take(local, i) if search.multi else local
    result = final_result(
      search.config, search.setup, one, out, search.table, total, logs[i].last_epoch, stopped
    )
    if search.is_main:
      write_genotype(out, result, total, search.spe, stopped, op_names)
    results.append(result)
  return results
