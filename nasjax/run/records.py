"""What a search writes about itself into its workdir.

* ``metrics.jsonl`` -- one JSON object per logging point and per epoch:
  ``{"step": ..., "epoch": ..., "kind": "train"|"epoch", <scalars>}``;
  ``step`` counts the steps done and ``epoch`` is the 1-based epoch that
  step falls in (:func:`epoch_of_step`): with 20 steps per epoch, rows at
  steps 5..20 are epoch 1 (the epoch row at step 20 closes it), 25..40
  epoch 2;
* ``tensorboard/`` -- the same scalars as TensorBoard event files;
* ``alphas.npz`` -- per epoch: ``epoch``, ``step``, the op probabilities of
  every alpha tensor (``<name>``), its logits (``<name>_logits``), the raw
  edge-normalisation logits where the search has them (``<name>_betas``;
  the supernet applies the per-node softmax to them) and the op names
  (``op_names``);
* ``genotypes.jsonl`` -- per epoch, the argmax genotype and, when the
  NAS-Bench-201 table is configured, its benchmark accuracies.

Only process 0 writes. When a run resumes from a checkpoint, records from
after that checkpoint (written before an interruption) are dropped first, so
the files read as if the run had never stopped. TensorBoard event files cannot
be cut back, so a resume rewrites them: :func:`rewrite_tensorboard` replaces
the run's event files by one holding every scalar of the (already cut back)
``metrics.jsonl`` -- no step written twice, none an unflushed writer lost --
and the resumed run appends to a new event file after it.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.infra.jsonfiles import read_jsonl, truncate_jsonl

#: The fields of a ``metrics.jsonl`` record that are not scalars.
_RECORD_FIELDS = ("step", "epoch", "kind")


def epoch_of_step(step: int, steps_per_epoch: int) -> int:
  """The 1-based epoch that the ``step``-th step (counted from 1) falls in.

  Example:
    >>> [epoch_of_step(s, 20) for s in (1, 5, 20, 21, 40)]
    [1, 1, 1, 2, 2]
  """
  return (step - 1) // steps_per_epoch + 1


#: Where :func:`rewrite_tensorboard` writes the new event file before renaming it (a name
#: without ``tfevents``, which TensorBoard does not read).
_REWRITE_TMP = "rewrite.tmp"


def tensorboard_scalars(kind: str, scalars: Mapping[str, float]) -> list[tuple[str, float]]:
  """The ``(tag, value)`` pairs TensorBoard gets for one ``metrics.jsonl`` record.

  Train records keep their names; the others are prefixed with their kind
  (``epoch/train/loss``).
  """
  prefix = "" if kind == "train" else f"{kind}/"
  return [(prefix + name, float(value)) for name, value in scalars.items()]


class MetricWriter:
  """Appends scalars to ``metrics.jsonl`` and TensorBoard event files.

  The TensorBoard writer (and its event file) is made at the first
  :meth:`write`, so that :meth:`truncate_after` can rewrite the event files
  of an interrupted run before it.
  """

  def __init__(self, workdir: str | Path, enabled: bool = True):
    self.enabled = enabled
    self.path = Path(workdir) / "metrics.jsonl"
    self.tb_dir = Path(workdir) / "tensorboard"
    self._tb = None

  def truncate_after(self, step: int) -> None:
    """Drops records of steps after ``step`` (before resuming from it).

    TensorBoard's event files are rewritten from what ``metrics.jsonl`` keeps
    (:func:`rewrite_tensorboard`); a fresh workdir has none and costs nothing.
    """
    if self.enabled:
      truncate_jsonl(self.path, lambda r: r.get("step", 0) <= step)
      rewrite_tensorboard(self.tb_dir, read_jsonl(self.path))

  def write(self, step: int, epoch: int, kind: str, scalars: Mapping[str, float]) -> None:
    """Appends one record to ``metrics.jsonl`` and its scalars to TensorBoard.

    ``metrics.jsonl`` is written before this returns (so before the checkpoint
    at ``step``); TensorBoard's events may still sit in tensorboardX's queue,
    and those a kill loses come back with the resume's rewrite.
    """
    if not self.enabled:
      return
    record = {
      "step": int(step),
      "epoch": int(epoch),
      "kind": kind,
      **{k: float(v) for k, v in scalars.items()},
    }
    if self._tb is None:  # makes the workdir too
      from tensorboardX import SummaryWriter

      self._tb = SummaryWriter(str(self.tb_dir))
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    for tag, value in tensorboard_scalars(kind, scalars):
      self._tb.add_scalar(tag, value, int(step))
    self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _event_files(logdir: Path) -> list[Path]:
  """The event files of a TensorBoard run folder (TensorBoard reads the names with ``tfevents``)."""
  return sorted(p for p in logdir.iterdir() if "tfevents" in p.name and p.is_file())


def read_events(path: Path) -> Iterator[Any]:
  """The ``Event`` protos of a TFRecord event file, up to a record a kill cut short.

  Checksums are not checked (a pure-Python CRC is slow); callers only use
  events that agree with ``metrics.jsonl``.
  """
  from google.protobuf.message import DecodeError
  from tensorboardX.proto import event_pb2

  data = path.read_bytes()
  pos = 0
  while pos + 12 <= len(data):
    (length,) = struct.unpack("<Q", data[pos : pos + 8])
    end = pos + 12 + length + 4
    if end > len(data):
      return
    event = event_pb2.Event()
    try:
      event.ParseFromString(data[pos + 12 : pos + 12 + length])
    except DecodeError:
      return
    yield event
    pos = end


def rewrite_tensorboard(logdir: Path, records: list[dict[str, Any]]) -> None:
  """Replaces the event files in ``logdir`` by one holding ``records``' scalars.

  Each record (``metrics.jsonl``'s) gives the tags, values and step
  :meth:`MetricWriter.write` gives TensorBoard; an event keeps the wall time
  of the same point in the old files, where they hold it. The new file is
  written under a temporary name and renamed; the old ones are deleted after
  that. A kill at any point leaves files that the next rewrite (from the same
  records) replaces, so the rewrite can be repeated. The new file's name sorts
  before that of the next writer's file (its timestamp is a second earlier),
  so TensorBoard reads the steps in order.

  Args:
    logdir: the run's ``tensorboard`` folder (nothing is done if it and ``records``
      are both missing, as in a fresh run).
    records: the ``metrics.jsonl`` records to keep, in order.
  """
  if not logdir.exists() and not records:
    return
  from tensorboardX.proto import event_pb2
  from tensorboardX.record_writer import RecordWriter
  from tensorboardX.summary import scalar

  logdir.mkdir(parents=True, exist_ok=True)
  tmp = logdir / _REWRITE_TMP
  tmp.unlink(missing_ok=True)
  old = _event_files(logdir)
  wall_times: dict[tuple[str, int, float], float] = {}
  for path in old:
    for event in read_events(path):
      for v in event.summary.value:
        wall_times.setdefault((v.tag, event.step, v.simple_value), event.wall_time)
  now = time.time()
  if records:
    name = f"events.out.tfevents.{int(now) - 1}.{socket.gethostname()}.rewritten"
    writer = RecordWriter(str(tmp))
    writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
    for record in records:
      scalars = {k: v for k, v in record.items() if k not in _RECORD_FIELDS}
      step = int(record.get("step", 0))
      for tag, value in tensorboard_scalars(record.get("kind", "train"), scalars):
        summary = scalar(tag, value)
        key = (summary.value[0].tag, step, summary.value[0].simple_value)
        event = event_pb2.Event(wall_time=wall_times.get(key, now), step=step, summary=summary)
        writer.write(event.SerializeToString())
    writer.flush()
    writer.close()
    os.replace(tmp, logdir / name)
    old = [p for p in old if p.name != name]
  for path in old:
    path.unlink(missing_ok=True)


class AlphaHistory:
  """``alphas.npz``: the architecture parameters at the end of every epoch.

  Args:
    workdir: where ``alphas.npz`` is (its records so far are read back).
    op_names: the candidates, kept as ``op_names`` in the file.
    enabled: write the file (the main process only).
    renamed: ``{old name: name}`` of alpha tensors renamed since the file
      was written (the space's ``renamed_alphas``); they are read back
      under the new name.
  """

  def __init__(
    self,
    workdir: str | Path,
    op_names: tuple[str, ...],
    enabled: bool = True,
    renamed: Mapping[str, str] | None = None,
  ):
    renamed = renamed or {}
    self.enabled = enabled
    self.path = Path(workdir) / "alphas.npz"
    self.op_names = tuple(op_names)
    self.records: list[dict[str, Any]] = []
    if enabled and self.path.exists():
      with np.load(self.path) as d:
        names = [k[: -len("_logits")] for k in d.files if k.endswith("_logits")]
        beta_names = [k[: -len("_betas")] for k in d.files if k.endswith("_betas")]
        for i in range(len(d["epoch"])):
          self.records.append(
            {
              "epoch": int(d["epoch"][i]),
              "step": int(d["step"][i]),
              "probs": {renamed.get(n, n): d[n][i] for n in names},
              "logits": {renamed.get(n, n): d[f"{n}_logits"][i] for n in names},
              "betas": {renamed.get(n, n): d[f"{n}_betas"][i] for n in beta_names},
            }
          )

  def truncate_after(self, step: int) -> None:
    self.records = [r for r in self.records if r["step"] <= step]
    self._flush()

  def append(
    self,
    epoch: int,
    step: int,
    logits: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    betas: Mapping[str, np.ndarray] | None = None,
  ) -> None:
    """Records one epoch's alpha logits, op probabilities and raw edge logits (if any)."""
    self.records.append(
      {
        "epoch": epoch,
        "step": step,
        "probs": {k: np.asarray(v) for k, v in probs.items()},
        "logits": {k: np.asarray(v) for k, v in logits.items()},
        "betas": {k: np.asarray(v) for k, v in (betas or {}).items()},
      }
    )
    self._flush()

  def _flush(self) -> None:
    if not self.enabled:
      return
    if not self.records:
      self.path.unlink(missing_ok=True)
      return
    arrays: dict[str, np.ndarray] = {
      "epoch": np.array([r["epoch"] for r in self.records], np.int32),
      "step": np.array([r["step"] for r in self.records], np.int64),
      "op_names": np.array(self.op_names),
    }
    for name in self.records[0]["probs"]:
      arrays[name] = np.stack([r["probs"][name] for r in self.records])
      arrays[f"{name}_logits"] = np.stack([r["logits"][name] for r in self.records])
    for name in self.records[0]["betas"]:
      arrays[f"{name}_betas"] = np.stack([r["betas"][name] for r in self.records])
    tmp = self.path.with_name("alphas.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, self.path)


class GenotypeLog:
  """``genotypes.jsonl``: the genotype of every epoch, with benchmark accuracies.

  Any other per-epoch JSON-lines record with a ``step`` field (``hessian.jsonl``)
  is kept the same way: pass its ``filename``.
  """

  def __init__(self, workdir: str | Path, enabled: bool = True, filename: str = "genotypes.jsonl"):
    self.enabled = enabled
    self.path = Path(workdir) / filename

  def read(self) -> list[dict[str, Any]]:
    """The records written so far (lines cut short by a kill are skipped)."""
    return read_jsonl(self.path)

  def truncate_after(self, step: int) -> None:
    if self.enabled:
      truncate_jsonl(self.path, lambda r: r.get("step", 0) <= step)

  def append(self, record: Mapping[str, Any]) -> None:
    if self.enabled:
      with open(self.path, "a") as f:
        f.write(json.dumps(dict(record)) + "\n")


class ProgressBar:
  """A tqdm bar with ETA on process 0 (a no-op elsewhere or when disabled)."""

  def __init__(self, enabled: bool, total: int, initial: int, desc: str = "search"):
    self.bar = None
    if enabled:
      from tqdm.auto import tqdm

      self.bar = tqdm(
        total=total,
        initial=initial,
        unit="step",
        dynamic_ncols=True,
        file=sys.stderr,
        desc=desc,
      )

  def update(self, n: int, **postfix: float) -> None:
    if self.bar is not None:
      self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
      self.bar.update(n)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
