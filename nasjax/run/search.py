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
import numpy as np

from nasjax.config.search import validate_search_config
from nasjax.core import bilevel
from nasjax.errors import ConfigError
from nasjax.infra import fused, parallel
from nasjax.infra import seeds as seeds_lib
from nasjax.infra.checkpoint import Checkpointer
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import search_log
from nasjax.run.records import GenotypeLog, ProgressBar
from nasjax.run.safety import check_or_write_config as _check_or_write_config
from nasjax.run.safety import deferred_interrupt
from nasjax.run.safety import save_on_interrupt as _save_on_interrupt
from nasjax.run.safety import say as _say
from nasjax.spaces.nb201.benchmark import DATA_DIR_ENV, TABLE_FILENAME, NB201Table
from nasjax.spaces.registry import genotype_from_dict
from nasjax.tasks.registry import task_of


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
  task = task_of(config)
  datas = [task.search_data(c, jax.process_index(), jax.process_count()) for c in configs]
  spe = datas[0].steps_per_epoch
  total = config.epochs * spe
  setup = bilevel.make_search_setup(config, spe)

  workdir.mkdir(parents=True, exist_ok=True)
  checkpointer = Checkpointer(
    workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
  )
  start = checkpointer.latest_step()
  _check_or_write_config(workdir, config, start is not None, is_main)
  _say(is_main, "\n".join(search_log.header_lines(config)))

  image_shape = datas[0].image_shape
  if initial_state is not None:  # also the layout a resumed checkpoint is restored into
    state = initial_state(setup, image_shape)
  elif multi:
    state = fused.stack([setup.init(jax.random.key(s), image_shape) for s in seed_ids])
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
    search_log.SeedLog(c, setup, op_names, d, out, is_main)
    for c, d, out in zip(configs, datas, outs, strict=True)
  ]
  for log, partial in zip(logs, search_log.split_carried(carried, len(logs)), strict=True):
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
  # Metrics of the calls since the last log line; see search_log.SeedLog for the epoch's records.
  pending: list[tuple[int, int, Any]] = []
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

      per_seed = search_log.per_seed(pending, steps_per_call > 1, len(logs))
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
        local = parallel.local_view(state)
        for i, log in enumerate(logs):
          log.end_of_epoch(fused.take(local, i) if multi else local, eval_fn, epoch, done, table)
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
    per_seed = search_log.per_seed(pending, steps_per_call > 1, len(logs))
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

  local = parallel.local_view(state)
  results = []
  for i, out in enumerate(outs):
    one = fused.take(local, i) if multi else local
    result = _final(config, setup, one, out, table, total, logs[i].last_epoch, stopped)
    if is_main:
      search_log.write_genotype(out, result, total, spe, stopped, op_names)
    results.append(result)
  elapsed = time.perf_counter() - t_start
  head = f"{kind} finished: {total} steps, {total // spe} epochs, {elapsed:.1f} s" + (
    f" (step compile {compile_s:.1f} s)" if compile_s is not None else ""
  )
  if not multi:
    if is_main:
      print(
        "\n".join([head, *search_log.result_lines(results[0]), f"outputs: {workdir}"]), flush=True
      )
    return results[0]
  summary = seeds_lib.summarize(seed_ids, results)
  if is_main:
    write_json(workdir / seeds_lib.SUMMARY_FILENAME, summary)
    lines = [head, *seeds_lib.summary_lines(summary)]
    for seed, result in zip(seed_ids, results, strict=True):
      lines.append(f"seed {seed}: " + "; ".join(search_log.result_lines(result)))
    print("\n".join([*lines, f"outputs: {workdir}"]), flush=True)
  return MultiSeedResult(workdir=workdir, seeds=seed_ids, results=results, summary=summary)


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


def _final(config, setup, state, workdir, table, total, last_epoch, stopped=None) -> SearchResult:
  alphas = {k: np.asarray(v) for k, v in jax.device_get(state.alphas).items()}
  betas = {k: np.asarray(v) for k, v in jax.device_get(state.betas).items()}
  probs = {k: np.asarray(v) for k, v in jax.device_get(setup.relaxation.probs(alphas)).items()}
  genotype = search_log.derive(setup, state, probs, betas)
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
