"""Retrain a derived DARTS network from scratch, from the command line or a notebook.

Its command line is ``python -m nasjax.retrain`` (:mod:`nasjax.retrain`).

``--genotype`` is a genotype file (a search's ``genotype.json``, a genotype
JSON, or a text file with DARTS' ``Genotype(...)`` string) or the name of a
published genotype: ``DARTS_V1``, ``DARTS_V2``, ``PC_DARTS``. Re-running the
same command with the same ``--workdir`` resumes from the latest checkpoint;
a changed config or a different genotype is refused. From a notebook,
``nasjax.retrain.run(config, genotype, workdir)`` does the same and returns a
:class:`RetrainResult`.

The workdir receives ``config.yaml`` / ``config.json``, ``genotype.json``
(the architecture), ``checkpoints/``, ``metrics.jsonl`` and ``tensorboard/``
(train loss, accuracy, lr and drop-path rate per logging point; test loss,
top-1 and top-5 per evaluated epoch) and, at the end, ``final.json`` (test
top-1 / top-5, parameters, multiply-adds, epochs, time).
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

from nasjax.config.retrain import validate_retrain_config
from nasjax.core.training import TrainSetup, TrainState, make_train_setup
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.infra import parallel
from nasjax.infra.checkpoint import Checkpointer
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import safety as runs
from nasjax.run.records import MetricWriter, ProgressBar
from nasjax.run.search_log import evaluate_test_split
from nasjax.spaces import flops
from nasjax.spaces.darts.genotype import DARTS_V1, DARTS_V2, PC_DARTS, DartsGenotype
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import genotype_from_dict, load_genotype
from nasjax.tasks.classification import imagenet
from nasjax.tasks.classification.data import TrainData
from nasjax.tasks.classification.datasets import load_dataset

#: The published genotypes ``--genotype`` accepts by name.
NAMED_GENOTYPES: dict[str, DartsGenotype] = {
  "DARTS_V1": DARTS_V1,
  "DARTS_V2": DARTS_V2,
  "PC_DARTS": PC_DARTS,
}


@dataclasses.dataclass
class RetrainResult:
  """What a finished retrain returns (everything but ``state`` is also in its workdir).

  Attributes:
    workdir: where the outputs are.
    genotype: the architecture trained.
    state: the final train state (weights, BN statistics, optimiser state).
    test: the final test metrics: ``loss``, ``top1``, ``top5`` (fractions).
    params: the parameter count without the auxiliary head.
    multiply_adds: multiply-adds of one forward pass at the training resolution.
    step: the number of training steps run in total.
    last_epoch: the last epoch's summary metrics.
  """

  workdir: Path
  genotype: DartsGenotype
  state: TrainState
  test: dict[str, float]
  params: int
  multiply_adds: int
  step: int
  last_epoch: dict[str, float]


def resolve_genotype(spec: DartsGenotype | str | os.PathLike) -> DartsGenotype:
  """The DARTS genotype ``spec`` names: a genotype, a published name, or a file.

  Raises:
    GenotypeError / DataNotFoundError: for a file that is missing or holds no
      DARTS genotype.
  """
  if isinstance(spec, DartsGenotype):
    return spec
  if str(spec) in NAMED_GENOTYPES:
    return NAMED_GENOTYPES[str(spec)]
  path = Path(os.path.expanduser(str(spec)))
  if not path.is_file():
    raise DataNotFoundError(
      f"genotype {str(spec)!r} is neither a file nor a published genotype; pass the path of a "
      f"genotype file (e.g. a search's genotype.json) or one of {sorted(NAMED_GENOTYPES)}"
    )
  genotype = load_genotype(path)
  if not isinstance(genotype, DartsGenotype):
    raise GenotypeError(
      f"{path} holds a {genotype.space!r} genotype, but retraining builds DARTS-space networks; "
      f"pass a DARTS genotype"
    )
  return genotype


def check_or_write_genotype(workdir: Path, genotype: Any, resuming: bool, is_main: bool) -> None:
  """Writes ``genotype.json``; when resuming, refuses a different genotype."""
  record = workdir / "genotype.json"
  if resuming and record.exists():
    saved = genotype_from_dict(json.loads(record.read_text()))
    if saved != genotype:
      raise GenotypeError(
        f"{workdir} holds a retrain of a different genotype ({saved}); resume with that "
        f"genotype (--genotype={record}) or start a new --workdir"
      )
  if is_main:
    write_json(record, genotype.to_dict())


def load_data(config: ml_collections.ConfigDict) -> Any:
  """The training data of ``config``: :class:`~nasjax.data.TrainData` or ImageNet's."""
  d, index, count = config.data, jax.process_index(), jax.process_count()
  if d.name == imagenet.TFDS_NAME:
    return imagenet.ImageNetData.from_config(d, config.seed, config.batch_size, index, count)
  dataset = load_dataset(d)
  if dataset.num_classes != config.network.num_classes:
    raise ConfigError(
      f"config.network.num_classes={config.network.num_classes} but the dataset has "
      f"{dataset.num_classes} classes; set --config.network.num_classes={dataset.num_classes}"
    )
  if dataset.x_train.shape[1:3] != (d.image_size, d.image_size):
    raise ConfigError(
      f"config.data.image_size={d.image_size} but the images are "
      f"{dataset.x_train.shape[1]}x{dataset.x_train.shape[2]}; set it to their size"
    )
  return TrainData(dataset, d, config.seed, config.batch_size, index, count)


def _evaluate(config, eval_fn, state, data) -> dict[str, float]:
  """Test metrics over ``config.eval.limit`` test images (weighted by count)."""
  return evaluate_test_split(eval_fn, state, data, config.eval.batch_size, config.eval.limit)


def run(
  config: ml_collections.ConfigDict,
  genotype: DartsGenotype | str | os.PathLike,
  workdir: str | os.PathLike,
) -> RetrainResult:
  """Trains (or resumes training) ``genotype``'s network as ``config`` describes.

  Args:
    config: a retrain config (:func:`nasjax.config.retrain.retrain_config`
      or a file in ``configs/retrain/``).
    genotype: a :class:`~nasjax.spaces.genotype.DartsGenotype`, a genotype file, or
      a published genotype's name (see :data:`NAMED_GENOTYPES`).
    workdir: the output folder; if it holds checkpoints of this run, training
      continues from the latest one.

  Returns:
    The final state, test accuracy and network cost (also written to ``workdir``).

  Raises:
    NasjaxError: for a bad config or genotype, missing data, an unusable
      checkpoint, or a diverged run, with a message naming the fix.
  """
  t_start = time.perf_counter()
  validate_retrain_config(config)
  genotype = resolve_genotype(genotype)
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  enable_compilation_cache(config.compilation_cache or None)

  data = load_data(config)
  spe = data.steps_per_epoch
  total = config.epochs * spe
  setup = make_train_setup(config, spe, genotype)

  checkpointer, start = open_workdir(workdir, config, genotype, is_main)

  size = config.data.image_size
  state = setup.init(jax.random.key(config.seed), (size, size, 3))
  n_params = flops.count_params(state.params)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  macs = flops.multiply_adds(setup.model, variables, (size, size, 3), train=False)
  runs.say(
    is_main,
    f"network: {n_params / 1e6:.3f}M parameters (without the auxiliary head), "
    f"{macs / 1e6:.1f}M multiply-adds at {size}x{size}",
  )
  state, last_epoch, test, elapsed = resume_and_train(
    config, setup, state, data, workdir, checkpointer, start, is_main, t_start
  )
  test = {k: test[k] for k in ("loss", "top1", "top5")}
  result = RetrainResult(workdir, genotype, state, test, n_params, macs, total, last_epoch)
  if is_main:
    write_json(
      workdir / "final.json",
      {
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "test_loss": test["loss"],
        "params": n_params,
        "params_M": n_params / 1e6,
        "multiply_adds": macs,
        "multiply_adds_M": macs / 1e6,
        "image_size": size,
        "epochs": config.epochs,
        "steps": total,
        "time_s": elapsed(),
        "genotype": genotype.to_dict(),
      },
    )
    print(
      f"retrain finished: {total} steps, {config.epochs} epochs, {elapsed():.1f} s\n"
      f"test top-1 {100 * test['top1']:.2f}%, top-5 {100 * test['top5']:.2f}% "
      f"(error {100 * (1 - test['top1']):.2f}%); {n_params / 1e6:.3f}M parameters, "
      f"{macs / 1e6:.1f}M multiply-adds\noutputs: {workdir}",
      flush=True,
    )
  return result


def open_workdir(
  workdir: Path, config: ml_collections.ConfigDict, genotype: Any, is_main: bool
) -> tuple[Checkpointer, int | None]:
  """The checkpointer of a retrain's ``workdir`` and its latest step (None: a fresh run).

  Records the genotype and the config there; a resumed run must have the same.

  Raises:
    NasjaxError: for a different genotype or config than the workdir's.
  """
  workdir.mkdir(parents=True, exist_ok=True)
  checkpointer = Checkpointer(
    workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
  )
  start = checkpointer.latest_step()
  try:
    check_or_write_genotype(workdir, genotype, start is not None, is_main)
    runs.check_or_write_config(workdir, config, start is not None, is_main, kind="retrain")
  except Exception:
    checkpointer.close()
    raise
  return checkpointer, start


def resume_and_train(
  config: ml_collections.ConfigDict,
  setup: Any,
  state: Any,
  data: Any,
  workdir: Path,
  checkpointer: Checkpointer,
  start: int | None,
  is_main: bool,
  t_start: float,
) -> tuple[Any, dict[str, float], dict[str, float], Callable[[], float]]:
  """Restores checkpoint ``start`` (if any), trains to the end, saves, and evaluates.

  Shared by DARTS retraining and SR retraining (:mod:`nasjax.sr_retrain`).

  Returns:
    The final state, the last epoch's summary, the final test metrics, and
    the clock of the run's training time (time before an interruption included).
  """
  spe = data.steps_per_epoch
  total = config.epochs * spe
  meta: dict[str, Any] = {}
  if start is not None:
    state, meta = checkpointer.restore(start, state)
    runs.say(
      is_main, f"resuming {workdir} from step {start} (epoch {start // spe} of {config.epochs})"
    )
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
    test = _evaluate(config, eval_fn, state, data)
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
  progress = ProgressBar(is_main and config.progress_bar, total, start)
  if progress.bar is not None:
    progress.bar.set_description("retrain")
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
      writer.write(done, done // spe, "train", summary)
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
        test = _evaluate(config, eval_fn, state, data)
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
