"""What every run loop (search, retrain) does the same way.

Refusing to resume with a changed config and recording the resolved config
once the run is accepted, stopping on a NaN/Inf metric with the step and the last good
checkpoint, saving a checkpoint on Ctrl-C, and averaging logged metrics.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from nasjax.config.resume import config_changes, plain_values, values_yaml
from nasjax.errors import ConfigError, NasjaxError
from nasjax.infra.checkpoint import Checkpointer
from nasjax.infra.jsonfiles import atomic_write_bytes, write_json
from nasjax.infra.parallel import host_copy


class TrainingDivergedError(NasjaxError, FloatingPointError):
  """The loss or a gradient became NaN or infinite."""


def open_folder(workdir: Path) -> None:
  """Creates ``workdir`` (and its parents) and proves it writable, before any other work.

  Raises:
    OSError: the operating system's own error (a file in the way, a
      read-only disk, no permission), which the command line's error
      boundary turns into one sentence.
  """
  workdir.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryFile(dir=workdir):
    pass


def check_config(
  workdir: Path, config: ml_collections.ConfigDict, resuming: bool, kind: str = "search"
) -> None:
  """Refuses to resume ``workdir`` with a config that changes what is computed.

  Writes nothing: the config is recorded by :func:`write_config` once the
  run is accepted (its checkpoint restored), so a refused run leaves the
  workdir's record as it was.

  Args:
    workdir: the run's folder.
    config: the config of this run.
    resuming: the workdir holds a checkpoint of an earlier run.
    kind: what the run is (``search``, ``retrain``), for the message.

  Raises:
    ConfigError: when resuming with a config that differs in a field that
      changes what is computed, unless ``config.allow_resume_with_changes``.
  """
  record = workdir / "config.json"
  if not (resuming and record.exists()):
    return
  changed = config_changes(json.loads(record.read_text()), plain_values(config))
  if changed and not config.get("allow_resume_with_changes", False):
    detail = ", ".join(f"{k}: {old!r} -> {new!r}" for k, old, new in changed[:3])
    raise ConfigError(
      f"{workdir} holds a {kind} with a different config ({detail}); resume with the "
      f"original values, start a new --workdir, or pass "
      f"--config.allow_resume_with_changes=True to continue with the new values"
    )


def write_config(workdir: Path, config: ml_collections.ConfigDict, is_main: bool) -> None:
  """Records the resolved config as ``config.yaml`` and ``config.json``, each in one rename.

  Both hold the same plain values (no Python object tags), so any YAML or
  JSON reader takes them back.
  """
  if is_main:
    values = plain_values(config)
    atomic_write_bytes(workdir / "config.yaml", values_yaml(values).encode())
    write_json(workdir / "config.json", values)


def finite(metrics: dict[str, Any]) -> bool:
  """Whether every value of ``metrics`` is finite."""
  return all(math.isfinite(float(v)) for v in metrics.values())


def mean_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
  """The per-key mean of metric dicts with the same keys."""
  keys = records[0].keys()
  return {k: float(np.mean([float(r[k]) for r in records])) for k in keys}


def check_finite(
  steps: list[int], fetched: list[dict[str, Any]], checkpointer: Checkpointer, spe: int
) -> None:
  """Raises :class:`TrainingDivergedError` at the first step whose metrics are not finite.

  Args:
    steps: the step of each metrics dict.
    fetched: the metrics (host values).
    checkpointer: the run's checkpoints (the message names the last good one).
    spe: steps per epoch.
  """
  for s, m in zip(steps, fetched, strict=True):
    if finite(m):
      continue
    bad = sorted(k for k, v in m.items() if not math.isfinite(float(v)))
    last = checkpointer.latest_step()
    kept = (
      f"the last good checkpoint is step {last} in {checkpointer.directory}"
      if last is not None
      else "no checkpoint was written yet"
    )
    raise TrainingDivergedError(
      f"training diverged: {', '.join(bad)} became NaN/Inf at step {s} (epoch "
      f"{s // spe}); {kept}; lower the learning rates or regulariser strengths and "
      f"resume with --config.allow_resume_with_changes=True"
    )


def say(is_main: bool, message: str) -> None:
  """Prints ``message`` on process 0."""
  if is_main:
    print(message, flush=True)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
  """Holds a Ctrl-C back until the running step has returned its state.

  The step donates its input state, so an interrupt that lands inside the
  call would leave no state to save. Inside this context the first SIGINT
  only sets a flag, which the loop checks (the yielded function) after each
  call and turns into ``KeyboardInterrupt``; a second SIGINT interrupts at
  once. Outside the main thread (signals cannot be caught there) it does
  nothing.
  """
  if threading.current_thread() is not threading.main_thread():
    yield lambda: False
    return
  hit = threading.Event()

  def handler(signum: int, frame: Any) -> None:
    if hit.is_set():
      raise KeyboardInterrupt
    hit.set()

  previous = signal.signal(signal.SIGINT, handler)
  try:
    yield hit.is_set
  finally:
    signal.signal(signal.SIGINT, previous)


def partial_epoch(
  epoch_records: list[dict[str, Any]], pending: list[tuple[int, dict[str, Any]]]
) -> dict[str, Any]:
  """The record of an unfinished epoch: logged step metrics, and steps not yet logged."""
  as_floats = lambda m: {k: float(v) for k, v in m.items()}
  return {
    "epoch": [as_floats(m) for m in epoch_records],
    "pending": [{"step": s, "metrics": as_floats(m)} for s, m in jax.device_get(pending)],
  }


def save_on_interrupt(
  checkpointer: Checkpointer,
  state: Any,
  spe: int,
  is_main: bool,
  partial: dict[str, Any] | list[dict[str, Any]],
) -> None:
  """Saves ``state`` after Ctrl-C, with the metrics of the unfinished epoch.

  ``partial`` (:func:`partial_epoch`; one per seed for a multi-seed search)
  holds the metrics of the steps since the epoch began; it goes into the
  checkpoint's record as ``partial_epoch`` when no step's metrics were lost,
  so a resumed run logs the same epoch figures as an uninterrupted one.
  """
  try:
    step = int(np.max(host_copy(state.step)))
    if checkpointer.latest_step() != step:
      first = partial[0] if isinstance(partial, list) else partial
      meta = {"epoch": step // spe, "steps_per_epoch": spe}
      if len(first["epoch"]) + len(first["pending"]) == step % spe:  # else metrics were lost
        meta["partial_epoch"] = {"seeds": partial} if isinstance(partial, list) else partial
      checkpointer.save(step, state, meta)
    checkpointer.close()
    say(
      is_main, f"interrupted: saved a checkpoint at step {step}; re-run the same command to resume"
    )
  except Exception:  # the state may have been donated mid-step; keep the last checkpoint
    checkpointer.close()
    say(
      is_main,
      f"interrupted: resume from the last checkpoint (step "
      f"{checkpointer.latest_step()}) by re-running the same command",
    )
