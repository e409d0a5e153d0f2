"""The training loop every retraining shares: a workdir that resumes, steps, logs, evaluations.

DARTS networks (:mod:`nasjax.tasks.classification.retrain`), super-resolution
networks (:mod:`nasjax.tasks.super_resolution.retrain`) and segmentation
networks (:mod:`nasjax.tasks.segmentation.retrain`) train from scratch with
:func:`open_workdir` (the recorded genotype and config, the checkpointer)
and :func:`resume_and_train` (:func:`train_loop`'s steps over the device
mesh, logging, per-epoch evaluation, checkpoints and Ctrl-C).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections

from nasjax.core.training import TrainSetup, TrainState
from nasjax.infra import parallel
from nasjax.infra.checkpoint import Checkpointer
from nasjax.infra.jsonfiles import write_json
from nasjax.run import safety as runs
from nasjax.run.records import MetricWriter, ProgressBar, epoch_of_step
from nasjax.run.search_log import evaluate_test_split
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import genotype_from_dict


def check_genotype(workdir: Path, genotype: Any, resuming: bool) -> None:
  """Refuses to resume a retrain of a different genotype (writes nothing)."""
  record = workdir / "genotype.json"
  if resuming and record.exists():
    saved = genotype_from_dict(json.loads(record.read_text()))
    if saved != genotype:
      raise GenotypeError(
        f"{workdir} holds a retrain of a different genotype ({saved}); resume with that "
        f"genotype (--genotype={record}) or start a new --workdir"
      )


@dataclasses.dataclass
class RetrainWorkdir:
  """A retrain's folder once its genotype and config were checked against it.

  Attributes:
    path: the folder.
    checkpointer: its checkpoints.
    start: the latest checkpoint's step (None: a fresh run).
    genotype: the architecture being trained.
    config: the run's config.
    is_main: this process writes files.
  """

  path: Path
  checkpointer: Checkpointer
  start: int | None
  genotype: Any
  config: ml_collections.ConfigDict
  is_main: bool

  def record(self) -> None:
    """Writes ``genotype.json`` and the config: called once the run is accepted."""
    if self.is_main:
      write_json(self.path / "genotype.json", self.genotype.to_dict())
    runs.write_config(self.path, self.config, self.is_main)


def evaluate_test_split_of(config, eval_fn, state, data) -> dict[str, float]:
  """Test metrics over ``config.eval.limit`` test images (weighted by count)."""
  return evaluate_test_split(eval_fn, state, data, config.eval.batch_size, config.eval.limit)


def open_workdir(
  workdir: Path, config: ml_collections.ConfigDict, genotype: Any, is_main: bool
) -> RetrainWorkdir:
  """A retrain's ``workdir``: its checkpointer and latest step, genotype and config checked.

  Nothing is written to the folder's record here; :func:`resume_and_train`
  records the genotype and the config once the checkpoint is restored.

  Raises:
    NasjaxError: for a different genotype or config than the workdir's.
  """
  runs.open_folder(workdir)
  checkpointer = Checkpointer(
    workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
  )
  start = checkpointer.latest_step()
  try:
    check_genotype(workdir, genotype, start is not None)
    runs.check_config(workdir, config, start is not None, kind="retrain")
  except Exception:
    checkpointer.close()
    raise
  return RetrainWorkdir(workdir, checkpointer, start, genotype, config, is_main)


def resume_and_train(
  config: ml_collections.ConfigDict,
  setup: Any,
  state: Any,
  data: Any,
  run: RetrainWorkdir,
  t_start: float,
) -> tuple[Any, dict[str, float], dict[str, float], Callable[[], float]]:
  """Restores ``run``'s latest checkpoint (if any), trains to the end, saves, and evaluates.

  Shared by the three retraining tasks. The genotype and config are recorded
  in the workdir once the checkpoint is restored (the run is accepted).

  Returns:
    The final state, the last epoch's summary, the final test metrics, and
    the clock of the run's training time (time before an interruption included).
  """
  spe = data.steps_per_epoch
  total = config.epochs * spe
  workdir, checkpointer, start, is_main = run.path, run.checkpointer, run.start, run.is_main
  meta: dict[str, Any] = {}
  if start is not None:
    try:
      state, meta = checkpointer.restore(start, state)
    except Exception:
      checkpointer.close()
      raise
    runs.say(
      is_main, f"resuming {workdir} from step {start} (epoch {start // spe} of {config.epochs})"
    )
  run.record()
  start = start or 0
  prior_s = float(meta.get("elapsed_s", 0.0))  # time spent before an interruption

  def elapsed() -> float:
    return prior_s + time.perf_counter() - t_start

  writer = MetricWriter(workdir, is_main)
  writer.truncate_after(start)
  eval_fn = jax.jit(setup.evaluate)
  try:
    state, last_epoch, test = train_loop(
      config, setup, state, data, checkpointer, writer, eval_fn, start, meta, is_main, elapsed
    )
  finally:
    writer.close()
  if total and checkpointer.latest_step() != total:
    checkpointer.save(total, state, {"epoch": config.epochs, "steps_per_epoch": spe})
  checkpointer.close()
  if test is None:
    test = evaluate_test_split_of(config, eval_fn, state, data)
  return state, last_epoch, test, elapsed


def train_loop(
  config: ml_collections.ConfigDict,
  setup: TrainSetup,
  state: TrainState,
  data: Any,
  checkpointer: Checkpointer,
  writer: MetricWriter,
  eval_fn: Any,
  start: int,
  meta: dict[str, Any],
  is_main: bool,
  elapsed: Callable[[], float],
) -> tuple[TrainState, dict[str, float], dict[str, float] | None]:
  """The training loop from step ``start``; returns the state, last epoch summary, last test.

  ``setup`` provides ``step(state, batch)`` (metrics ``train/loss`` and
  ``train/acc`` or ``train/psnr``) and ``data`` provides ``batches(start,
  stop)``, ``eval_batches(batch_size, limit)`` and ``steps_per_epoch``: the
  same loop trains DARTS networks and super-resolution networks
  (:mod:`nasjax.sr_retrain`). Each batch is split over all devices
  (:mod:`nasjax.infra.parallel`); ``config.batch_size`` is the global batch.
  """
  spe = data.steps_per_epoch
  total = config.epochs * spe
  carried = meta.get("partial_epoch", {"epoch": [], "pending": []})
  pending: list[tuple[int, Any]] = [(r["step"], r["metrics"]) for r in carried["pending"]]
  epoch_records: list[dict[str, Any]] = list(carried["epoch"])
  mesh = parallel.make_mesh()  # the batch is split over every device; the state replicated
  parallel.check_batch(config.batch_size, mesh)
  state = parallel.put_replicated(state, mesh)
  step_fn = jax.jit(setup.step, donate_argnums=0, out_shardings=parallel.replicated(mesh))
  batches = parallel.prefetch(data.batches(start, total), lambda b: parallel.put_batch(b, mesh))
  progress = ProgressBar(is_main and config.progress_bar, total, start, desc="retrain")
  last_epoch: dict[str, float] = {}
  test = None
  new_steps, timed_steps, compile_s = 0, 0, None
  t_mark = time.perf_counter()
  guard = contextlib.ExitStack()
  interrupted = guard.enter_context(runs.deferred_interrupt())
  try:
    for step, batch in zip(range(start, total), batches, strict=True):
      state, metrics = step_fn(state, batch)
      if compile_s is None:  # the first call compiles; time the steps after it
        jax.block_until_ready(metrics)
        compile_s = time.perf_counter() - t_mark
        t_mark = time.perf_counter()
      else:
        timed_steps += 1
      pending.append((step, metrics))
      new_steps += 1
      if interrupted():  # Ctrl-C during the call: now the state is whole
        raise KeyboardInterrupt
      done = step + 1
      epoch_end = done % spe == 0
      if done % config.log_every_steps and not epoch_end:
        continue

      fetched = jax.device_get([m for _, m in pending])
      runs.check_finite([s for s, _ in pending], fetched, checkpointer, spe)
      now = time.perf_counter()
      summary = runs.mean_metrics(fetched)
      if timed_steps:
        summary["step_time_s"] = (now - t_mark) / timed_steps
      t_mark, timed_steps = now, 0
      writer.write(done, epoch_of_step(done, spe), "train", summary)
      epoch_records.extend(fetched)
      shown = {
        k.split("/")[1]: summary[k]
        for k in ("train/acc", "train/psnr", "train/pixel_acc")
        if k in summary
      }
      progress.update(new_steps, loss=summary["train/loss"], **shown)
      pending, new_steps = [], 0
      if not epoch_end:
        continue

      epoch = done // spe
      last_epoch = runs.mean_metrics(epoch_records)
      epoch_records = []
      every = config.eval.every_epochs
      if (every and epoch % every == 0) or done == total:
        test = evaluate_test_split_of(config, eval_fn, state, data)
        last_epoch.update({f"test/{k}": v for k, v in test.items() if k != "count"})
      else:
        test = None
      writer.write(done, epoch, "epoch", last_epoch)
      if epoch % config.checkpoint.every_epochs == 0 or done == total:
        checkpointer.save(
          done, state, {"epoch": epoch, "steps_per_epoch": spe, "elapsed_s": elapsed()}
        )
  except KeyboardInterrupt:
    progress.close()
    runs.save_on_interrupt(
      checkpointer, state, spe, is_main, runs.partial_epoch(epoch_records, pending)
    )
    raise
  finally:
    guard.close()
    progress.close()
  return state, last_epoch, test
