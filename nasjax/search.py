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

from nasjax import bilevel, projection
from nasjax import data as data_lib
from nasjax.analysis import EpochAnalysis
from nasjax.checkpoint import Checkpointer
from nasjax.compilation import enable_compilation_cache
from nasjax.config import validate_search_config
from nasjax.genotype import genotype_from_dict
from nasjax.metrics import AlphaHistory, GenotypeLog, MetricWriter, ProgressBar, write_json
from nasjax.nb201 import DATA_DIR_ENV, TABLE_FILENAME, NB201Table
from nasjax.runs import (
  TrainingDivergedError,  # noqa: F401 (raised by runs.check_finite)
  check_finite,
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
) -> SearchResult:
  """Runs (or resumes) the search ``config`` describes, writing into ``workdir``.

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

  table = load_table(config.nb201_table) if config.space.name == "nb201" else None
  search_data = data_lib.make_search_data(config, jax.process_index(), jax.process_count())
  spe = search_data.steps_per_epoch
  total = config.epochs * spe
  setup = bilevel.make_search_setup(config, spe)

  workdir.mkdir(parents=True, exist_ok=True)
  checkpointer = Checkpointer(
    workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
  )
  start = checkpointer.latest_step()
  _check_or_write_config(workdir, config, start is not None, is_main)

  image_shape = search_data.image_shape
  if initial_state is not None:  # also the layout a resumed checkpoint is restored into
    state = initial_state(setup, image_shape)
  else:
    state = setup.init(jax.random.key(config.seed), image_shape)
  carried: dict[str, list] = {"epoch": [], "pending": []}
  if start is not None:
    state, meta = checkpointer.restore(start, state)
    carried = meta.get("partial_epoch", carried)
    _say(is_main, f"resuming {workdir} from step {start} (epoch {start // spe} of {config.epochs})")
  start = start or 0
  stopped = _read_early_stop(workdir)
  if stopped is not None and stopped["step"] == start:
    total = start  # DARTS-ES stopped this search; nothing left to run
  elif stopped is not None:  # resumed before the stop (e.g. with changed settings): run on
    if is_main:
      (workdir / EARLY_STOP_FILE).unlink()
    stopped = None

  op_names = setup.space.op_names(config.space)
  writer = MetricWriter(workdir, is_main)
  history = AlphaHistory(workdir, op_names, is_main)
  genotypes = GenotypeLog(workdir, is_main)
  analysis = EpochAnalysis(config, setup, search_data, workdir, is_main)
  for record in (writer, history, genotypes, analysis):
    record.truncate_after(start)

  step_fn = jax.jit(setup.step, donate_argnums=0)
  eval_fn = jax.jit(setup.evaluate)
  progress = ProgressBar(is_main and config.progress_bar, total, start, desc=kind)
  last_epoch: dict[str, float] = {}
  # Metrics of steps since the last log line / epoch end; a mid-epoch checkpoint
  # (Ctrl-C) carries them, so a resumed run logs the same figures.
  pending: list[tuple[int, Any]] = [(r["step"], r["metrics"]) for r in carried["pending"]]
  epoch_records: list[dict[str, Any]] = list(carried["epoch"])
  new_steps = 0
  compile_s = None
  timed_steps = 0
  t_mark = time.perf_counter()
  step = start
  try:
    for step, (train_batch, val_batch) in zip(
      range(start, total), search_data.batches(start, total), strict=True
    ):
      if step_hook is not None:
        state = step_hook(step, state)
      state, metrics = step_fn(state, train_batch, val_batch)
      if compile_s is None:  # the first call compiles; time the steps after it
        jax.block_until_ready(metrics)
        compile_s = time.perf_counter() - t_mark
        t_mark = time.perf_counter()
      else:
        timed_steps += 1
      pending.append((step, metrics))
      new_steps += 1
      done = step + 1
      epoch_end = done % spe == 0
      if done % config.log_every_steps and not epoch_end:
        continue

      fetched = jax.device_get([m for _, m in pending])
      check_finite([s for s, _ in pending], fetched, checkpointer, spe)
      now = time.perf_counter()
      summary = _mean(fetched)
      if timed_steps:
        summary["step_time_s"] = (now - t_mark) / timed_steps
      t_mark, timed_steps = now, 0
      writer.write(done, done // spe, "train", summary)
      epoch_records.extend(fetched)
      metric = setup.task.metric
      progress.update(
        new_steps,
        loss=summary["train/loss"],
        **{metric: summary[f"train/{metric}"], f"val_{metric}": summary[f"val/{metric}"]},
      )
      pending, new_steps = [], 0

      if epoch_end:
        epoch = done // spe
        last_epoch = _end_of_epoch(
          config,
          setup,
          state,
          search_data,
          eval_fn,
          epoch,
          done,
          epoch_records,
          history,
          genotypes,
          table,
          writer,
          analysis,
        )
        epoch_records = []
        stopped = analysis.early_stop()
        if epoch % config.checkpoint.every_epochs == 0 or done == total or stopped:
          checkpointer.save(done, state, {"epoch": epoch, "steps_per_epoch": spe})
        if stopped:
          stopped = _early_stop_record(stopped, genotypes)
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
    _save_on_interrupt(checkpointer, state, spe, is_main, epoch_records, pending)
    raise
  finally:
    progress.close()
    writer.close()

  if step_hook is not None:
    state = step_hook(total, state)
  if total and checkpointer.latest_step() != total:
    checkpointer.save(total, state, {"epoch": total // spe, "steps_per_epoch": spe})
  checkpointer.close()

  result = _final(config, setup, state, workdir, table, total, last_epoch, stopped)
  if is_main:
    write_json(
      workdir / "genotype.json",
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
    elapsed = time.perf_counter() - t_start
    lines = [
      f"{kind} finished: {total} steps, {total // spe} epochs, {elapsed:.1f} s"
      + (f" (step compile {compile_s:.1f} s)" if compile_s is not None else "")
    ]
    lines.append(f"genotype: {result.genotype}")
    if result.benchmark:
      b = result.benchmark
      lines.append(
        f"NAS-Bench-201: cifar10 valid {b['cifar10_valid']:.2f}, cifar10 test "
        f"{b['cifar10_test']:.2f}, cifar100 test {b['cifar100_test']:.2f}, "
        f"imagenet16 test {b['imagenet16_test']:.2f}"
      )
    lines.append(f"outputs: {workdir}")
    print("\n".join(lines), flush=True)
  return result


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
