"""TensorBoard's record of a run equals ``metrics.jsonl`` after a kill and a resume.

A run killed after its checkpoint at step ``C`` has written points past ``C``
(the resumed run writes them again) and may have lost points still queued in
the TensorBoard writer. The resume cuts ``metrics.jsonl`` back to ``C`` and
rewrites the event files from it (:meth:`MetricWriter.truncate_after`, as
:mod:`nasjax.run.search_log` and :mod:`nasjax.run.retrain` call it). The
event files are read back here with a reader of their own (TFRecord framing,
checksums checked; no TensorFlow).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from tensorboardX import record_writer
from tensorboardX.proto import event_pb2
from tensorboardX.record_writer import masked_crc32c

from nasjax.run import records
from nasjax.run.records import MetricWriter

SPE, LOG_EVERY, EPOCHS, CHECKPOINT, KILLED_AT = 10, 5, 4, 20, 25


def read_event_file(path: Path) -> list[event_pb2.Event]:
  """The events of one TFRecord event file, every checksum checked."""
  data, pos, events = path.read_bytes(), 0, []
  while pos < len(data):
    header = data[pos : pos + 8]
    (length,) = struct.unpack("<Q", header)
    (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
    assert header_crc == masked_crc32c(header), f"{path}: bad length checksum at {pos}"
    payload = data[pos + 12 : pos + 12 + length]
    (payload_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
    assert payload_crc == masked_crc32c(payload), f"{path}: bad record checksum at {pos}"
    event = event_pb2.Event()
    event.ParseFromString(payload)
    events.append(event)
    pos += 16 + length
  return events


def scalar_points(logdir: Path) -> list[tuple[str, int, float]]:
  """Every ``(tag, step, value)`` of the event files in ``logdir``, in TensorBoard's file order."""
  return [
    (v.tag, event.step, v.simple_value)
    for path in sorted(p for p in logdir.iterdir() if "tfevents" in p.name)
    for event in read_event_file(path)
    for v in event.summary.value
  ]


def jsonl_points(path: Path) -> list[tuple[str, int, float]]:
  """The ``(tag, step, value)`` points ``metrics.jsonl`` gives TensorBoard (float32 values)."""
  points = []
  for line in path.read_text().splitlines():
    record = json.loads(line)
    scalars = {k: v for k, v in record.items() if k not in ("step", "epoch", "kind")}
    for tag, value in records.tensorboard_scalars(record["kind"], scalars):
      points.append((tag, record["step"], struct.unpack("f", struct.pack("f", value))[0]))
  return points


def _rows(first: int, last: int) -> list[tuple[int, int, str, dict[str, float]]]:
  """The rows a search writes for steps ``first..last``: log points, then epoch ends."""
  rows = []
  for step in range(first, last + 1):
    if step % LOG_EVERY == 0:
      rows.append((step, step // SPE, "train", {"train/loss": 1.0 / step, "step_time_s": 0.1}))
    if step % SPE == 0:
      epoch = {"train/loss": 2.0 / step, "test/acc": 0.01 * step, "nb201/cifar10_test": 50.0}
      rows.append((step, step // SPE, "epoch", epoch))
  return rows


def _write(writer: MetricWriter, rows) -> None:
  for step, epoch, kind, scalars in rows:
    writer.write(step, epoch, kind, scalars)


def _reference(path: Path) -> Path:
  """An uninterrupted run's workdir."""
  writer = MetricWriter(path)
  _write(writer, _rows(1, EPOCHS * SPE))
  writer.close()
  return path


def _killed(path: Path) -> Path:
  """A run killed at step ``KILLED_AT`` whose writer had not flushed the epoch at ``CHECKPOINT``."""
  writer = MetricWriter(path)
  _write(writer, _rows(1, KILLED_AT))
  writer.close()
  (events,) = (path / "tensorboard").iterdir()
  data = events.read_bytes()
  # Lost with the queue: everything from the first point of step CHECKPOINT on, and the kill
  # cut the file inside a record.
  cut = next(
    pos
    for pos, event in _record_offsets(events)
    if event.step >= CHECKPOINT and event.summary.value
  )
  events.write_bytes(data[: cut + 7])
  _age(events)
  lines = (path / "metrics.jsonl").read_text().splitlines()
  assert any(json.loads(line)["step"] > CHECKPOINT for line in lines)
  return path


def _age(events: Path) -> None:
  """Names ``events`` as if written a minute ago (the resumed writer's file is a new one)."""
  name = re.sub(r"tfevents\.(\d+)", lambda m: f"tfevents.{int(m[1]) - 60}", events.name, count=1)
  events.rename(events.with_name(name))


def _record_offsets(path: Path):
  data, pos = path.read_bytes(), 0
  while pos < len(data):
    (length,) = struct.unpack("<Q", data[pos : pos + 8])
    event = event_pb2.Event()
    event.ParseFromString(data[pos + 12 : pos + 12 + length])
    yield pos, event
    pos += 16 + length


def _resume(path: Path, start: int = CHECKPOINT) -> None:
  """Resumes as a run does: cut back to the checkpoint, then write the remaining steps."""
  writer = MetricWriter(path)
  writer.truncate_after(start)
  _write(writer, _rows(start + 1, EPOCHS * SPE))
  writer.close()


def _assert_equal_to_reference(workdir: Path, reference: Path) -> None:
  got = scalar_points(workdir / "tensorboard")
  want = scalar_points(reference / "tensorboard")
  duplicates = [p for p, n in Counter((t, s) for t, s, _ in got).items() if n > 1]
  assert not duplicates, duplicates
  assert sorted(got) == sorted(want)
  assert sorted(got) == sorted(jsonl_points(workdir / "metrics.jsonl"))
  assert (workdir / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text()
  steps: dict[str, int] = {}
  for tag, step, _ in got:  # TensorBoard reads the files in name order: steps never go back
    assert step >= steps.get(tag, step), (tag, step)
    steps[tag] = step
  assert not (workdir / "tensorboard" / records._REWRITE_TMP).exists()


def test_a_resumed_run_holds_every_point_once(tmp_path):
  reference = _reference(tmp_path / "reference")
  workdir = _killed(tmp_path / "killed")
  before = {
    (v.tag, e.step): e.wall_time
    for e in records.read_events(next((workdir / "tensorboard").iterdir()))  # cut short
    for v in e.summary.value
  }
  assert ("epoch/train/loss", CHECKPOINT) not in before and ("train/loss", 15) in before
  _resume(workdir)
  _assert_equal_to_reference(workdir, reference)
  # The points kept from before the kill keep their wall times.
  rewritten = sorted((workdir / "tensorboard").iterdir())[0]
  kept = {(v.tag, e.step): e.wall_time for e in read_event_file(rewritten) for v in e.summary.value}
  points = jsonl_points(workdir / "metrics.jsonl")
  assert kept.keys() == {(t, s) for t, s, _ in points if s <= CHECKPOINT}
  assert {k: kept[k] for k in before if k[1] <= CHECKPOINT} == {
    k: t for k, t in before.items() if k[1] <= CHECKPOINT
  }


def test_a_second_kill_and_resume(tmp_path):
  reference = _reference(tmp_path / "reference")
  workdir = _killed(tmp_path / "killed")
  writer = MetricWriter(workdir)  # resumed from CHECKPOINT, killed again past step 30
  writer.truncate_after(CHECKPOINT)
  _write(writer, _rows(CHECKPOINT + 1, 35))
  writer.close()
  _resume(workdir, 30)
  _assert_equal_to_reference(workdir, reference)


@pytest.mark.parametrize("killed_in", ["write", "rename", "delete"])
def test_a_kill_during_the_rewrite_is_repaired_by_the_next_resume(tmp_path, monkeypatch, killed_in):
  reference = _reference(tmp_path / "reference")
  workdir = _killed(tmp_path / "killed")

  class Killed(BaseException):
    pass

  def kill(*args, **kwargs):
    raise Killed

  if killed_in == "write":  # part of a temporary file, the old files untouched
    original_write = record_writer.RecordWriter.write
    calls = []

    def write(self, data):
      calls.append(1)
      if len(calls) > 5:
        self.flush()
        raise Killed
      original_write(self, data)

    monkeypatch.setattr(record_writer.RecordWriter, "write", write)
  elif killed_in == "rename":  # the whole temporary file, the old files untouched
    monkeypatch.setattr(records.os, "replace", kill)
  else:  # the new file and the old ones side by side (points twice)
    unlink = Path.unlink

    def unlink_once(self, *args, **kwargs):
      if "tfevents" in self.name and ".rewritten" not in self.name:
        raise Killed
      return unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink_once)
  with pytest.raises(Killed):
    MetricWriter(workdir).truncate_after(CHECKPOINT)
  monkeypatch.undo()
  _resume(workdir)
  _assert_equal_to_reference(workdir, reference)


def test_a_fresh_run_rewrites_nothing_and_a_resume_writes_two_files(tmp_path):
  writer = MetricWriter(tmp_path)
  writer.truncate_after(0)  # what a fresh run does
  assert not (tmp_path / "tensorboard").exists()
  _write(writer, _rows(1, CHECKPOINT))
  writer.close()
  assert len(list((tmp_path / "tensorboard").iterdir())) == 1
  _resume(tmp_path)
  names = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
  assert len(names) == 2 and names[0].endswith(".rewritten"), names


def test_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path):
  workdir = _killed(tmp_path)
  _resume(workdir, 0)
  _assert_equal_to_reference(workdir, _reference(tmp_path / "reference"))


def test_only_the_main_process_rewrites(tmp_path):
  workdir = _killed(tmp_path)
  before = {p.name: p.read_bytes() for p in (workdir / "tensorboard").iterdir()}
  jsonl = (workdir / "metrics.jsonl").read_text()
  other = MetricWriter(workdir, enabled=False)
  other.truncate_after(CHECKPOINT)
  _write(other, _rows(CHECKPOINT + 1, EPOCHS * SPE))
  other.close()
  assert {p.name: p.read_bytes() for p in (workdir / "tensorboard").iterdir()} == before
  assert (workdir / "metrics.jsonl").read_text() == jsonl


def test_a_killed_writer_process_loses_nothing_after_the_resume(tmp_path):
  """A real kill: the writing process ends without closing (``os._exit``) right after a write."""
  reference = _reference(tmp_path / "reference")
  workdir = tmp_path / "killed"
  child = (  # a separate process (not a fork of this multithreaded one) that dies mid-run
    "import os, sys; sys.path.insert(0, sys.argv[1])\n"
    "from pathlib import Path\n"
    "from test_tensorboard_resume import KILLED_AT, MetricWriter, _rows, _write\n"
    "writer = MetricWriter(Path(sys.argv[2]))\n"
    "_write(writer, _rows(1, KILLED_AT))\n"
    "os._exit(0)\n"
  )
  done = subprocess.run(
    [sys.executable, "-c", child, str(Path(__file__).parent), str(workdir)],
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  (events,) = (workdir / "tensorboard").iterdir()
  _age(events)
  _resume(workdir)
  _assert_equal_to_reference(workdir, reference)
