"""Run a search end to end, from the command line or a notebook.

Its command line is ``python -m nasjax.search`` (:mod:`nasjax.search`).

Re-running the same command with the same ``--workdir`` resumes from the
latest checkpoint. From a notebook, ``nasjax.search.run(config, workdir)``
does the same and returns a :class:`SearchResult`.

The workdir receives ``config.yaml`` (the resolved config), ``checkpoints/``,
``metrics.jsonl``, ``tensorboard/``, ``alphas.npz``, ``genotypes.jsonl`` and,
at the end, ``genotype.json`` (see :mod:`nasjax.run.records`).
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

from nasjax.config.search import validate_search_config
from nasjax.core import bilevel
from nasjax.core.setup import make_search_setup
from nasjax.core.state import SearchState
from nasjax.errors import ConfigError
from nasjax.infra import fused, parallel
from nasjax.infra import seeds as seeds_lib
from nasjax.infra.checkpoint import Checkpointer
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import search_log
from nasjax.run.records import GenotypeLog, ProgressBar
from nasjax.run.safety import check_config, deferred_interrupt, open_folder, write_config
from nasjax.run.safety import save_on_interrupt as _save_on_interrupt
from nasjax.run.safety import say as _say
from nasjax.run.search_log import MultiSeedResult, SearchResult
from nasjax.tasks.registry import task_of


def run(
  config: ml_collections.ConfigDict,
  workdir: str | os.PathLike,
  *,
  initial_state: Callable[[bilevel.SearchSetup, tuple[int, ...]], SearchState] | None = None,
  step_hook: Callable[[int, SearchState], SearchState] | None = None,
  kind: str = "search",
) -> SearchResult | MultiSeedResult:
  """Runs (or resumes) the search ``config`` describes, writing into ``workdir``.

  The batch of every step is split over all devices (:mod:`nasjax.infra.parallel`);
  with ``config.num_seeds = K > 1`` the K seeds run as one vmapped program
  (:mod:`nasjax.infra.seeds`) and a :class:`MultiSeedResult` is returned;
  ``config.steps_per_call`` steps run per host call (:mod:`nasjax.infra.fused`).

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
  search = _open(config, Path(workdir).absolute(), initial_state, step_hook, kind)
  state, start, total, stopped = _starting_state(search, initial_state)
  logs = _seed_logs(search, start)
  state, total, stopped, compile_s = _train(search, logs, state, start, total, stopped)
  state = _close(search, state, total)
  results = search_log.final_results(search, logs, state, total, stopped)
  return _report(search, results, total, time.perf_counter() - t_start, compile_s)


@dataclasses.dataclass
class _Search:
  """What one search run holds fixed: its config, seeds, data, setup, mesh and workdir."""

  config: ml_collections.ConfigDict
  workdir: Path
  kind: str
  seed_ids: list[int]
  configs: list[ml_collections.ConfigDict]  # one per seed
  datas: list[Any]  # the task's search batches, one per seed
  setup: bilevel.SearchSetup
  mesh: Any
  steps_per_call: int
  checkpointer: Checkpointer
  table: Any  # the space's benchmark table, or None
  step_hook: Callable[[int, SearchState], SearchState] | None
  is_main: bool
  carried: dict[str, Any] = dataclasses.field(default_factory=dict)  # a checkpoint's partial epoch

  @property
  def multi(self) -> bool:
    """Whether the seeds run as one program (``config.num_seeds > 1``)."""
    return len(self.seed_ids) > 1

  @property
  def spe(self) -> int:
    """Steps per epoch."""
    return self.datas[0].steps_per_epoch

  @property
  def outs(self) -> list[Path]:
    """Each seed's output folder (the workdir itself for a single seed)."""
    if not self.multi:
      return [self.workdir]
    return [seeds_lib.seed_dir(self.workdir, s) for s in self.seed_ids]

  def say(self, message: str) -> None:
    _say(self.is_main, message)


def _open(config, workdir, initial_state, step_hook, kind) -> _Search:
  """Validates the config and builds the run's pieces; refuses a changed config on resume."""
  validate_search_config(config)
  open_folder(workdir)  # a file in the way or a read-only disk fails here, before any work
  enable_compilation_cache(config.compilation_cache or None)
  seed_ids = seeds_lib.seed_list(config)
  if len(seed_ids) > 1 and (initial_state is not None or step_hook is not None):
    raise ConfigError(
      f"{kind} continues one trained supernet; run it on a single-seed search "
      "(config.num_seeds=1), e.g. on one seed's folder of a multi-seed run"
    )
  mesh = parallel.make_mesh()
  parallel.check_batch(config.batch_size, mesh)
  configs = [seeds_lib.seed_config(config, s) for s in seed_ids] if len(seed_ids) > 1 else [config]
  task = task_of(config)
  datas = [task.search_data(c, jax.process_index(), jax.process_count()) for c in configs]
  setup = make_search_setup(config, datas[0].steps_per_epoch)
  search = _Search(
    config=config,
    workdir=workdir,
    kind=kind,
    seed_ids=seed_ids,
    configs=configs,
    datas=datas,
    setup=setup,
    mesh=mesh,
    steps_per_call=1 if step_hook is not None else config.steps_per_call,
    checkpointer=Checkpointer(
      workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
    ),
    table=setup.space.load_benchmark(config.nb201_table),
    step_hook=step_hook,
    is_main=jax.process_index() == 0,
  )
  resuming = search.checkpointer.latest_step() is not None
  check_config(workdir, config, resuming, kind="search")
  search.say("\n".join(search_log.header_lines(config)))
  benchmark_wanted = setup.space.benchmark is not None and config.nb201_table.lower() != "none"
  if search.table is None and benchmark_wanted:
    search.say(
      "no NAS-Bench-201 table found (nb201.csv.gz in $NASJAX_DATA_DIR): benchmark look-ups "
      "are off; set config.nb201_table to the file to turn them on, or to 'none' to say so"
    )
  return search


def _starting_state(search: _Search, initial_state) -> tuple[Any, int, int, dict | None]:
  """The state to start from (fresh or restored), its step, the total, DARTS-ES' stop."""
  setup, image_shape = search.setup, search.datas[0].image_shape
  if initial_state is not None:  # also the layout a resumed checkpoint is restored into
    state = initial_state(setup, image_shape)
  elif search.multi:
    state = fused.stack([setup.init(jax.random.key(s), image_shape) for s in search.seed_ids])
  else:
    state = setup.init(jax.random.key(search.config.seed), image_shape)
  start = search.checkpointer.latest_step()
  if start is not None:
    state, meta = search.checkpointer.restore(start, state, setup.space.renamed_alphas)
    search.carried = meta.get("partial_epoch", {})
    search.say(
      f"resuming {search.workdir} from step {start} "
      f"(epoch {start // search.spe} of {search.config.epochs})"
    )
  write_config(search.workdir, search.config, search.is_main)  # the run is accepted
  state = parallel.put_replicated(state, search.mesh)
  start = start or 0
  total = search.config.epochs * search.spe
  stopped = _read_early_stop(search.workdir)
  if stopped is not None and stopped["step"] == start:
    total = start  # DARTS-ES stopped this search; nothing left to run
  elif stopped is not None:  # resumed before the stop (e.g. with changed settings): run on
    if search.is_main:
      (search.workdir / EARLY_STOP_FILE).unlink()
    stopped = None
  return state, start, total, stopped


def _seed_logs(search: _Search, start: int) -> list[search_log.SeedLog]:
  """One record keeper per seed, cut back to ``start`` and given the unfinished epoch's records."""
  op_names = search.setup.space.op_names(search.config.space)
  logs = [
    search_log.SeedLog(c, search.setup, op_names, d, out, search.is_main)
    for c, d, out in zip(search.configs, search.datas, search.outs, strict=True)
  ]
  carried = search_log.split_carried(search.carried, len(logs))
  for log, partial in zip(logs, carried, strict=True):
    log.truncate_after(start)
    log.restore_partial(partial)
  return logs


@dataclasses.dataclass
class _Clock:
  """The step-time clock: the first call compiles, the steps after it are timed."""

  mark: float = dataclasses.field(default_factory=time.perf_counter)
  compile_s: float | None = None
  timed_steps: int = 0

  def called(self, metrics: Any, steps: int) -> None:
    if self.compile_s is None:
      jax.block_until_ready(metrics)
      self.compile_s = time.perf_counter() - self.mark
      self.mark = time.perf_counter()
    else:
      self.timed_steps += steps

  def step_time(self) -> float | None:
    """Seconds per step since the last call of this method (None before any timed step)."""
    now = time.perf_counter()
    step_time = (now - self.mark) / self.timed_steps if self.timed_steps else None
    self.mark, self.timed_steps = now, 0
    return step_time


def _train(search: _Search, logs, state, start: int, total: int, stopped):
  """The step loop: host calls, a log line at logging points, measurements at epoch ends.

  Returns:
    ``(state, total, stopped, compile_s)``: ``total`` is the step DARTS-ES
    stopped at if it did.
  """
  config, spe = search.config, search.spe
  step_fn = _make_step_fn(search.setup, search.mesh, search.multi, search.steps_per_call)
  eval_fn = jax.jit(search.setup.evaluate)
  progress = ProgressBar(search.is_main and config.progress_bar, total, start, desc=search.kind)
  leading = int(search.steps_per_call > 1) + int(search.multi)
  calls = parallel.prefetch(
    _host_calls(search.datas, start, total, search.steps_per_call, spe, config.log_every_steps),
    lambda call: (call[0], call[1], parallel.put_batch(call[2], search.mesh, leading)),
  )
  # Metrics of the calls since the last log line; see search_log.SeedLog for the epoch's records.
  pending: list[tuple[int, int, Any]] = []
  clock = _Clock()
  guard = contextlib.ExitStack()
  interrupted = guard.enter_context(deferred_interrupt())
  try:
    for begin, end, (train_batch, val_batch) in calls:
      if search.step_hook is not None:
        state = search.step_hook(begin, state)
      state, metrics = step_fn(state, train_batch, val_batch)
      clock.called(metrics, end - begin)
      pending.append((begin, end, metrics))
      if interrupted():  # Ctrl-C during the call: now the state is whole
        raise KeyboardInterrupt
      epoch_end = end % spe == 0
      if end % config.log_every_steps and not epoch_end:
        continue
      _log_point(search, logs, pending, progress, clock.step_time(), end)
      pending = []
      if epoch_end:
        stopped = _end_of_epoch(search, logs, state, eval_fn, end, total)
        if stopped:
          total = end
          break
  except KeyboardInterrupt:
    progress.close()
    per_seed = search_log.per_seed(pending, search.steps_per_call > 1, len(logs))
    partials = [log.partial(steps) for log, steps in zip(logs, per_seed, strict=True)]
    _save_on_interrupt(
      search.checkpointer, state, spe, search.is_main, partials if search.multi else partials[0]
    )
    raise
  finally:
    guard.close()
    progress.close()
    for log in logs:
      log.writer.close()
  return state, total, stopped, clock.compile_s


def _log_point(search: _Search, logs, pending, progress, step_time, done: int) -> None:
  """Checks, averages and writes the metrics of the calls since the last log line."""
  per_seed = search_log.per_seed(pending, search.steps_per_call > 1, len(logs))
  summaries = [
    log.log_steps(steps, search.checkpointer, search.spe, done, step_time)
    for log, steps in zip(logs, per_seed, strict=True)
  ]
  metric = search.setup.task.metric
  progress.update(
    sum(end - begin for begin, end, _ in pending),
    loss=summaries[0]["train/loss"],
    **{
      metric: summaries[0][f"train/{metric}"],
      f"val_{metric}": summaries[0][f"val/{metric}"],
    },
  )


def _end_of_epoch(search: _Search, logs, state, eval_fn, done: int, total: int) -> dict | None:
  """Each seed's end-of-epoch records, the checkpoint, and DARTS-ES' stop (or None)."""
  epoch = done // search.spe
  local = parallel.local_view(state)
  for i, log in enumerate(logs):
    one = fused.take(local, i) if search.multi else local
    log.end_of_epoch(one, eval_fn, epoch, done, search.table)
  stopped = logs[0].analysis.early_stop() if not search.multi else None
  if epoch % search.config.checkpoint.every_epochs == 0 or done == total or stopped:
    search.checkpointer.save(done, state, {"epoch": epoch, "steps_per_epoch": search.spe})
  if not stopped:
    return None
  stopped = _early_stop_record(stopped, logs[0].genotypes)
  if search.is_main:
    write_json(search.workdir / EARLY_STOP_FILE, stopped)
  search.say(
    f"DARTS-ES: the dominant eigenvalue grew by more than {stopped['factor']}x over "
    f"{stopped['window']} epochs; stopping at epoch {epoch} with the architecture of "
    f"epoch {stopped['selected_epoch']}"
  )
  return stopped


def _close(search: _Search, state, total: int):
  """The step hook's last call, the final checkpoint; the checkpointer closes."""
  if search.step_hook is not None:
    state = search.step_hook(total, state)
  if total and search.checkpointer.latest_step() != total:
    search.checkpointer.save(
      total, state, {"epoch": total // search.spe, "steps_per_epoch": search.spe}
    )
  search.checkpointer.close()
  return state


def _report(search: _Search, results, total: int, elapsed: float, compile_s):
  """Prints the outcome (and, for several seeds, writes their summary); the run's result."""
  spe = search.spe
  head = f"{search.kind} finished: {total} steps, {total // spe} epochs, {elapsed:.1f} s" + (
    f" (step compile {compile_s:.1f} s)" if compile_s is not None else ""
  )
  if not search.multi:
    if search.is_main:
      lines = [head, *search_log.result_lines(results[0]), f"outputs: {search.workdir}"]
      print("\n".join(lines), flush=True)
    return results[0]
  summary = seeds_lib.summarize(search.seed_ids, results)
  if search.is_main:
    write_json(search.workdir / seeds_lib.SUMMARY_FILENAME, summary)
    lines = [head, *seeds_lib.summary_lines(summary)]
    for seed, result in zip(search.seed_ids, results, strict=True):
      lines.append(f"seed {seed}: " + "; ".join(search_log.result_lines(result)))
    print("\n".join([*lines, f"outputs: {search.workdir}"]), flush=True)
  return MultiSeedResult(
    workdir=search.workdir, seeds=search.seed_ids, results=results, summary=summary
  )


def _make_step_fn(setup, mesh, multi: bool, steps_per_call: int):
  """The jitted host call: one step, or ``steps_per_call`` under scan; over all seeds."""
  step = seeds_lib.batched_step(setup.step) if multi else setup.step
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


EARLY_STOP_FILE = "early_stop.json"


def _read_early_stop(workdir: Path) -> dict[str, Any] | None:
  path = workdir / EARLY_STOP_FILE
  return json.loads(path.read_text()) if path.exists() else None


def _early_stop_record(stopped: dict[str, Any], genotypes: GenotypeLog) -> dict[str, Any]:
  """DARTS-ES' stop, with the genotype of the epoch it returns (``window`` epochs back)."""
  chosen = [r for r in genotypes.read() if r["epoch"] == stopped["selected_epoch"]]
  return {**stopped, "genotype": chosen[-1]["genotype"] if chosen else None}
