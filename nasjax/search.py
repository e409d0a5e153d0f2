"""Run a search end to end, from the command line or a notebook.

Command line::

  python -m nasjax.search --config=configs/nb201/darts_1st.py:runlocal --workdir=/tmp/darts
  python -m nasjax.search --config=configs/nb201/darts_2nd.py --workdir=runs/d2 \\
      --config.seed=1 --config.optimizer.alpha.lr=6e-4

Re-running the same command with the same ``--workdir`` resumes from the
latest checkpoint. From a notebook, ``nasjax.search.run(config, workdir)``
does the same and returns a :class:`SearchResult`.

The workdir receives ``config.yaml`` (the resolved config), ``checkpoints/``,
``metrics.jsonl``, ``tensorboard/``, ``alphas.npz``, ``genotypes.jsonl`` and,
at the end, ``genotype.json`` (see :mod:`nasjax.metrics`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from nasjax import bilevel, fused, parallel, projection
from nasjax import data as data_lib
from nasjax import seeds as seeds_lib
from nasjax.analysis import EpochAnalysis
from nasjax.checkpoint import Checkpointer
from nasjax.compilation import enable_compilation_cache
from nasjax.config import validate_search_config
from nasjax.errors import ConfigError
from nasjax.genotype import genotype_from_dict
from nasjax.metrics import AlphaHistory, GenotypeLog, MetricWriter, ProgressBar, write_json
from nasjax.nb201 import DATA_DIR_ENV, TABLE_FILENAME, NB201Table
from nasjax.runs import (
  TrainingDivergedError,  # noqa: F401 (raised by runs.check_finite)
  check_finite,
  deferred_interrupt,
  partial_epoch,
)
from nasjax.runs import check_or_write_config as _check_or_write_config
from nasjax.runs import mean_metrics as _mean
from nasjax.runs import save_on_interrupt as _save_on_interrupt
from nasjax.runs import say as _say


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


def load_table(setting: str) -> NB201Table | None:
  if setting.lower() == "none":
    return None
  if setting:
    return NB201Table.load(setting)
  default = Path(os.environ.get(DATA_DIR_ENV, "")) / TABLE_FILENAME
  return NB201Table.load(default) if os.environ.get(DATA_DIR_ENV) and default.is_file() else None


def run(
  config: ml_collections.ConfigDict,
  workdir: str | os.PathLike,
  *,
  initial_state: Callable[[bilevel.SearchSetup, tuple[int, ...]], bilevel.SearchState]
  | None = None,
  step_hook: Callable[[int, bilevel.SearchState], bilevel.SearchState] | None = None,
  kind: str = "search",
) -> SearchResult | MultiSeedResult:
  """Runs (or resumes) the search ``config`` describes, writing into ``workdir``.

  The batch of every step is split over all devices (:mod:`nasjax.parallel`);
  with ``config.num_seeds = K > 1`` the K seeds run as one vmapped program
  (:mod:`nasjax.seeds`) and a :class:`MultiSeedResult` is returned;
  ``config.steps_per_call`` steps run per host call (:mod:`nasjax.fused`).

  Args:
    config: a search config (``nasjax.config.search_config()`` or a file in
      ``configs/``).
    workdir: the output folder; if it holds checkpoints of this search, the
      run continues from the latest one.
    initial_state: builds the starting state from the setup and the image
      shape instead of a fresh initialisation (selection continues a trained
      supernet this way); when resuming, the checkpoint is restored into
      its layout.
    step_hook: called as ``state = step_hook(step, state)`` before every
      step and once more after the last one (``step = total``); perturbation
      selection makes its decisions here. It must return the state unchanged
      when it has nothing to do at ``step``, and give the same result when
      called again on the same state (a resumed run repeats the call at the
      step it resumes from).
    kind: what the run is called in messages and the progress bar.

  Returns:
    The final genotype, alphas and benchmark record (also written to ``workdir``).

  Raises:
    NasjaxError: for a bad config, missing data, an unusable checkpoint, or a
      diverged run, with a message naming the fix.
  """
  t_start = time.perf_counter()
  validate_search_config(config)
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  enable_compilation_cache(config.compilation_cache or None)
  seed_ids = seeds_lib.seed_list(config)
  multi = len(seed_ids) > 1
  if multi and (initial_state is not None or step_hook is not None):
    raise ConfigError(
      f"{kind} continues one trained supernet; run it on a single-seed search "
      "(config.num_seeds=1), e.g. on one seed's folder of a multi-seed run"
    )
  steps_per_call = 1 if step_hook is not None else config.steps_per_call
  mesh = parallel.make_mesh()
  parallel.check_batch(config.batch_size, mesh)

  table = load_table(config.nb201_table) if config.space.name == "nb201" else None
  configs = [seeds_lib.seed_config(config, s) for s in seed_ids] if multi else [config]
  datas = [data_lib.make_search_data(c, jax.process_index(), jax.process_count()) for c in configs]
  spe = datas[0].steps_per_epoch
  total = config.epochs * spe
  setup = bilevel.make_search_setup(config, spe)

  workdir.mkdir(parents=True, exist_ok=True)
  checkpointer = Checkpointer(
    workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
  )
  start = checkpointer.latest_step()
  _check_or_write_config(workdir, config, start is not None, is_main)

  image_shape = datas[0].image_shape
  if initial_state is not None:  # also the layout a resumed checkpoint is restored into
    state = initial_state(setup, image_shape)
  elif multi:
    state = seeds_lib.stack([setup.init(jax.random.key(s), image_shape) for s in seed_ids])
  else:
    state = setup.init(jax.random.key(config.seed), image_shape)
  carried: dict[str, Any] = {}
  if start is not None:
    state, meta = checkpointer.restore(start, state)
    carried = meta.get("partial_epoch", carried)
    _say(is_main, f"resuming {workdir} from step {start} (epoch {start // spe} of {config.epochs})")
  state = parallel.put_replicated(state, mesh)
  start = start or 0
  stopped = _read_early_stop(workdir)
  if stopped is not None and stopped["step"] == start:
    total = start  # DARTS-ES stopped this search; nothing left to run
  elif stopped is not None:  # resumed before the stop (e.g. with changed settings): run on
    if is_main:
      (workdir / EARLY_STOP_FILE).unlink()
    stopped = None

  op_names = setup.space.op_names(config.space)
  outs = [seeds_lib.seed_dir(workdir, s) for s in seed_ids] if multi else [workdir]
  logs = [
    _SeedLog(c, setup, op_names, d, out, is_main)
    for c, d, out in zip(configs, datas, outs, strict=True)
  ]
  for log, partial in zip(logs, _split_carried(carried, len(logs)), strict=True):
    log.truncate_after(start)
    log.restore_partial(partial)

  step_fn = _make_step_fn(setup, mesh, multi, steps_per_call)
  eval_fn = jax.jit(setup.evaluate)
  progress = ProgressBar(is_main and config.progress_bar, total, start, desc=kind)
  leading = int(steps_per_call > 1) + int(multi)
  calls = parallel.prefetch(
    _host_calls(datas, start, total, steps_per_call, spe, config.log_every_steps),
    lambda call: (call[0], call[1], parallel.put_batch(call[2], mesh, leading)),
  )
  # Metrics of the calls since the last log line; see _SeedLog for the epoch's records.
  pending: list[tuple[int, int, Any]] = []
  last_epoch: dict[str, float] = {}
  new_steps = 0
  compile_s = None
  timed_steps = 0
  t_mark = time.perf_counter()
  guard = contextlib.ExitStack()
  interrupted = guard.enter_context(deferred_interrupt())
  try:
    for begin, end, (train_batch, val_batch) in calls:
      if step_hook is not None:
        state = step_hook(begin, state)
      state, metrics = step_fn(state, train_batch, val_batch)
      if compile_s is None:  # the first call compiles; time the steps after it
        jax.block_until_ready(metrics)
        compile_s = time.perf_counter() - t_mark
        t_mark = time.perf_counter()
      else:
        timed_steps += end - begin
      pending.append((begin, end, metrics))
      new_steps += end - begin
      if interrupted():  # Ctrl-C during the call: now the state is whole
        raise KeyboardInterrupt
      done = end
      epoch_end = done % spe == 0
      if done % config.log_every_steps and not epoch_end:
        continue

      per_seed = _per_seed(pending, steps_per_call > 1, len(logs))
      now = time.perf_counter()
      step_time = (now - t_mark) / timed_steps if timed_steps else None
      t_mark, timed_steps = now, 0
      summaries = [
        log.log_steps(steps, checkpointer, spe, done, step_time)
        for log, steps in zip(logs, per_seed, strict=True)
      ]
      metric = setup.task.metric
      progress.update(
        new_steps,
        loss=summaries[0]["train/loss"],
        **{
          metric: summaries[0][f"train/{metric}"],
          f"val_{metric}": summaries[0][f"val/{metric}"],
        },
      )
      pending, new_steps = [], 0

      if epoch_end:
        epoch = done // spe
        local = state if jax.process_count() == 1 else parallel.host_copy(state)
        for i, log in enumerate(logs):
          last = log.end_of_epoch(
            seeds_lib.take(local, i) if multi else local, eval_fn, epoch, done, table
          )
          last_epoch = last if i == 0 else last_epoch
        stopped = logs[0].analysis.early_stop() if not multi else None
        if epoch % config.checkpoint.every_epochs == 0 or done == total or stopped:
          checkpointer.save(done, state, {"epoch": epoch, "steps_per_epoch": spe})
        if stopped:
          stopped = _early_stop_record(stopped, logs[0].genotypes)
          if is_main:
            write_json(workdir / EARLY_STOP_FILE, stopped)
          _say(
            is_main,
            f"DARTS-ES: the dominant eigenvalue grew by more than {stopped['factor']}x over "
            f"{stopped['window']} epochs; stopping at epoch {epoch} with the architecture of "
            f"epoch {stopped['selected_epoch']}",
          )
          total = done
          break
  except KeyboardInterrupt:
    progress.close()
    per_seed = _per_seed(pending, steps_per_call > 1, len(logs))
    partials = [log.partial(steps) for log, steps in zip(logs, per_seed, strict=True)]
    _save_on_interrupt(checkpointer, state, spe, is_main, partials if multi else partials[0])
    raise
  finally:
    guard.close()
    progress.close()
    for log in logs:
      log.writer.close()

  if step_hook is not None:
    state = step_hook(total, state)
  if total and checkpointer.latest_step() != total:
    checkpointer.save(total, state, {"epoch": total // spe, "steps_per_epoch": spe})
  checkpointer.close()

  local = state if jax.process_count() == 1 else parallel.host_copy(state)
  results = []
  for i, out in enumerate(outs):
    one = seeds_lib.take(local, i) if multi else local
    result = _final(config, setup, one, out, table, total, last_epoch if not multi else {}, stopped)
    if multi:
      result.last_epoch = logs[i].last_epoch
    if is_main:
      _write_genotype(out, result, total, spe, stopped, op_names)
    results.append(result)
  elapsed = time.perf_counter() - t_start
  head = f"{kind} finished: {total} steps, {total // spe} epochs, {elapsed:.1f} s" + (
    f" (step compile {compile_s:.1f} s)" if compile_s is not None else ""
  )
  if not multi:
    if is_main:
      print("\n".join([head, *_result_lines(results[0]), f"outputs: {workdir}"]), flush=True)
    return results[0]
  summary = seeds_lib.summarize(seed_ids, results)
  if is_main:
    write_json(workdir / seeds_lib.SUMMARY_FILENAME, summary)
    lines = [head, *seeds_lib.summary_lines(summary)]
    for seed, result in zip(seed_ids, results, strict=True):
      lines.append(f"seed {seed}: " + "; ".join(_result_lines(result)))
    print("\n".join([*lines, f"outputs: {workdir}"]), flush=True)
  return MultiSeedResult(workdir=workdir, seeds=seed_ids, results=results, summary=summary)


def _make_step_fn(setup, mesh, multi: bool, steps_per_call: int):
  """The jitted host call: one step, or ``steps_per_call`` under scan; vmapped over seeds."""
  step = jax.vmap(setup.step) if multi else setup.step
  if steps_per_call > 1:
    step = fused.scan_steps(step)
  return jax.jit(step, donate_argnums=0, out_shardings=parallel.replicated(mesh))


def _host_calls(datas, start, total, steps_per_call, spe, log_every):
  """``(begin, end, (train, val))`` per host call; batches stacked over seeds, then steps."""
  streams = [d.batches(start, total) for d in datas]
  for begin, end in fused.call_bounds(start, total, steps_per_call, spe, log_every):
    steps = []
    for _ in range(begin, end):
      pairs = [next(stream) for stream in streams]
      steps.append(pairs[0] if len(pairs) == 1 else fused.stack(pairs))
    yield begin, end, steps[0] if steps_per_call == 1 else fused.stack(steps)


def _per_seed(pending, stacked_steps: bool, num_seeds: int) -> list[list[tuple[int, dict]]]:
  """Per seed, ``(step, host metrics)`` of each step of the pending calls."""
  fetched = jax.device_get([m for _, _, m in pending])
  out: list[list[tuple[int, dict]]] = [[] for _ in range(num_seeds)]
  for (begin, end, _), metrics in zip(pending, fetched, strict=True):
    steps = fused.unstack(metrics, end - begin) if stacked_steps else [metrics]
    for step, m in zip(range(begin, end), steps, strict=True):
      for i in range(num_seeds):
        one = seeds_lib.take(m, i) if num_seeds > 1 else m
        out[i].append((step, {k: float(v) for k, v in one.items()}))
  return out


def _split_carried(carried: dict[str, Any], n: int) -> list[dict[str, Any]]:
  """A checkpoint's unfinished-epoch records, one per seed."""
  if not carried:
    return [{} for _ in range(n)]
  if "seeds" in carried:
    return list(carried["seeds"])
  return [carried]


class _SeedLog:
  """One seed's records: metrics, alpha history, genotypes and end-of-epoch analysis."""

  def __init__(self, config, setup, op_names, search_data, out: Path, is_main: bool):
    self.config, self.setup, self.data, self.is_main = config, setup, search_data, is_main
    self.writer = MetricWriter(out, is_main)
    self.history = AlphaHistory(out, op_names, is_main)
    self.genotypes = GenotypeLog(out, is_main)
    self.analysis = EpochAnalysis(config, setup.measurement(), search_data, out, is_main)
    self.epoch_records: list[dict[str, float]] = []
    self.carry: list[tuple[int, dict]] = []  # restored steps not yet logged
    self.last_epoch: dict[str, float] = {}

  def truncate_after(self, step: int) -> None:
    for record in (self.writer, self.history, self.genotypes, self.analysis):
      record.truncate_after(step)

  def restore_partial(self, partial: dict[str, Any]) -> None:
    """Takes back a checkpoint's unfinished epoch (:func:`nasjax.runs.partial_epoch`)."""
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
    self.writer.write(done, done // spe, "train", summary)
    self.epoch_records.extend(fetched)
    return summary

  def end_of_epoch(self, state, eval_fn, epoch, done, table) -> dict[str, float]:
    self.last_epoch = _end_of_epoch(
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


def _write_genotype(out: Path, result: SearchResult, total, spe, stopped, op_names) -> None:
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


def _result_lines(result: SearchResult) -> list[str]:
  lines = [f"genotype: {result.genotype}"]
  if result.benchmark:
    b = result.benchmark
    lines.append(
      f"NAS-Bench-201: cifar10 valid {b['cifar10_valid']:.2f}, cifar10 test "
      f"{b['cifar10_test']:.2f}, cifar100 test {b['cifar100_test']:.2f}, "
      f"imagenet16 test {b['imagenet16_test']:.2f}"
    )
  return lines


def _end_of_epoch(
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
  genotype = _derive(setup, state, probs, betas)
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
  if jax.process_count() > 1:  # evaluated by every process on its own devices
    state = parallel.host_copy(state)
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


def _derive(setup, state, probs, betas):
  """The argmax genotype, with decided and pruned edges (selection) applied to ``probs``."""
  if state.projection:
    probs = jax.device_get(projection.apply(probs, state.projection))
  return setup.space.derive_genotype(probs, setup.config.space, betas)


EARLY_STOP_FILE = "early_stop.json"


def _read_early_stop(workdir: Path) -> dict[str, Any] | None:
  path = workdir / EARLY_STOP_FILE
  return json.loads(path.read_text()) if path.exists() else None


def _early_stop_record(stopped: dict[str, Any], genotypes: GenotypeLog) -> dict[str, Any]:
  """DARTS-ES' stop, with the genotype of the epoch it returns (``window`` epochs back)."""
  chosen = [r for r in genotypes.read() if r["epoch"] == stopped["selected_epoch"]]
  return {**stopped, "genotype": chosen[-1]["genotype"] if chosen else None}


def _final(config, setup, state, workdir, table, total, last_epoch, stopped=None) -> SearchResult:
  alphas = {k: np.asarray(v) for k, v in jax.device_get(state.alphas).items()}
  betas = {k: np.asarray(v) for k, v in jax.device_get(state.betas).items()}
  probs = {k: np.asarray(v) for k, v in jax.device_get(setup.relaxation.probs(alphas)).items()}
  genotype = _derive(setup, state, probs, betas)
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


# -- command line -------------------------------------------------------------


def main() -> None:
  """``python -m nasjax.search`` (see :mod:`nasjax.cli`)."""
  from nasjax.cli import main as cli_main

  cli_main(run)


if __name__ == "__main__":
  main()
