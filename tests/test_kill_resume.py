"""Kill -9 at random moments, rerun the same command: the outputs equal an uninterrupted run's.

For a search (``configs/nb201/darts_1st.py:runlocal``) and a retrain
(``configs/retrain/cifar10.py:runlocal``, DARTS-V2), both shrunk to four
epochs of a few steps so that there are four checkpoints: one uninterrupted
run is the reference; each case then starts the same command in a fresh
workdir, kills its process group with SIGKILL at one or two seeded moments
(once in a row, or twice: the resumed run killed again), reruns the command
to completion and compares the outputs with the reference's bit for bit,
time fields aside.

The kill moments (:class:`Moment`): as soon as orbax's temporary folder of
checkpoint k appears (a kill during the write), as soon as checkpoint k's
own folder appears (just after the rename), a random delay after the start
(start-up, restore, compile; at the latest when the run logs its first new
step) and a random delay after the first logged step (at the latest when the
last checkpoint's write begins, so the kill lands before the run ends).
``NASJAX_KILL_SEED`` picks other moments (default 0), e.g. for a soak run:
``for s in 1 2 3; do NASJAX_KILL_SEED=$s pytest tests/test_kill_resume.py; done``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, cli_env

KILL_SEED = int(os.environ.get("NASJAX_KILL_SEED", "0"))
#: How often the workdir is looked at while waiting for a kill moment (seconds).
POLL_S = 0.002
#: The longest any one run may take (a cold compilation cache included).
RUN_TIMEOUT_S = 600.0


@dataclasses.dataclass(frozen=True)
class Command:
  """A run's command line and the shape of its run (steps, checkpoints, the file it ends with)."""

  name: str
  module: str
  flags: tuple[str, ...]
  total_steps: int
  checkpoint_steps: tuple[int, ...]
  done_file: str  # written last, only by a run that completed

  def argv(self, workdir: Path) -> list[str]:
    return [sys.executable, "-m", self.module, f"--workdir={workdir}", *self.flags]


#: runlocal as four epochs of 4 steps (256 images: 128 per half, batch 32), a log line
#: every 2 steps, one test batch; checkpoints at the ends of the epochs.
SEARCH = Command(
  name="search",
  module="nasjax.search",
  flags=(
    "--config=configs/nb201/darts_1st.py:runlocal",
    "--config.progress_bar=False",
    "--config.epochs=4",
    "--config.data.train_limit=256",
    "--config.log_every_steps=2",
    "--config.eval.limit=256",
  ),
  total_steps=16,
  checkpoint_steps=(4, 8, 12, 16),
  done_file="genotype.json",
)
#: runlocal as tests/test_retrain.py shrinks it (C=4, 3 cells, batch 8), for four epochs of
#: 6 steps; the last save also deletes the oldest of the four checkpoints (keep=3).
RETRAIN = Command(
  name="retrain",
  module="nasjax.retrain",
  flags=(
    "--config=configs/retrain/cifar10.py:runlocal",
    "--genotype=DARTS_V2",
    "--config.progress_bar=False",
    "--config.network.channels=4",
    "--config.network.layers=3",
    "--config.batch_size=8",
    "--config.epochs=4",
    "--config.data.train_limit=48",
    "--config.eval.limit=16",
    "--config.eval.batch_size=16",
    "--config.log_every_steps=2",
  ),
  total_steps=24,
  checkpoint_steps=(6, 12, 18, 24),
  done_file="final.json",
)
COMMANDS = {c.name: c for c in (SEARCH, RETRAIN)}


@dataclasses.dataclass(frozen=True)
class Moment:
  """When a run is killed.

  Kinds: ``write`` (orbax's temporary folder of checkpoint ``step`` appears),
  ``done`` (checkpoint ``step``'s folder appears), ``start`` (``fraction`` of
  the reference's start-up time after the launch, at the latest at the first
  newly logged step), ``steps`` (``fraction`` of the reference's time from its
  first logged step to its end after this run's first newly logged step, at
  the latest when the last checkpoint's write begins).
  """

  kind: str
  step: int = 0
  fraction: float = 0.0

  def __str__(self) -> str:
    if self.kind in ("write", "done"):
      return f"{self.kind}@{self.step}"
    return f"{self.kind}+{self.fraction:.2f}"


def kill_plans(command: Command, seed: int) -> list[tuple[Moment, ...]]:
  """The kill moments of each case: one kill during a write, one during the steps, two in a row."""
  rng = random.Random(f"{command.name}-{seed}")
  steps = command.checkpoint_steps
  return [
    (Moment("write", step=rng.choice(steps)),),
    (Moment("steps", fraction=rng.uniform(0.0, 1.0)),),
    (Moment("done", step=rng.choice(steps[:-1])), Moment("start", fraction=rng.uniform(0.2, 1.0))),
  ]


CASES = [
  pytest.param(name, plan, id=f"{name}-" + ",".join(map(str, plan)))
  for name, command in COMMANDS.items()
  for plan in kill_plans(command, KILL_SEED)
]


@dataclasses.dataclass
class Reference:
  """An uninterrupted run: its workdir and timings (seconds)."""

  workdir: Path
  startup_s: float  # launch to the first logged step
  steps_s: float  # first logged step to the end


def _checkpoints(workdir: Path) -> list[str]:
  folder = workdir / "checkpoints"
  if not folder.is_dir():
    return []
  return sorted(os.listdir(folder), key=lambda n: (len(n.split(".")[0]), n))


def _finished_steps(workdir: Path) -> list[int]:
  return sorted(int(n) for n in _checkpoints(workdir) if n.isdigit())


def _inode(path: Path) -> int | None:
  try:
    return path.stat().st_ino
  except FileNotFoundError:
    return None


def _new_step_watch(workdir: Path) -> Callable[[], bool]:
  """A check of whether the run about to start has logged a step after its checkpoint.

  A run rewrites ``metrics.jsonl`` (a new file) when it starts, dropping the
  records after its checkpoint; until then the records are the killed run's.
  Call this before the launch.
  """
  path = workdir / "metrics.jsonl"
  launch_inode = _inode(path)
  after = max(_finished_steps(workdir), default=0)
  seen: dict[str, Any] = {"file": None, "hit": False}

  def logged() -> bool:
    if seen["hit"]:
      return True
    try:
      stat = path.stat()
      if stat.st_ino == launch_inode or (stat.st_ino, stat.st_size) == seen["file"]:
        return False
      seen["file"] = (stat.st_ino, stat.st_size)
      lines = path.read_text().splitlines()
    except FileNotFoundError:
      return False
    for line in lines:
      try:
        seen["hit"] = seen["hit"] or json.loads(line)["step"] > after
      except (json.JSONDecodeError, KeyError):
        continue  # a line being written
    return seen["hit"]

  return logged


def _trigger(
  moment: Moment, command: Command, reference: Reference, workdir: Path
) -> Callable[[float], bool]:
  """A function of the time since the launch telling whether the kill moment has come."""
  ckpts = workdir / "checkpoints"
  logged = _new_step_watch(workdir)
  last = command.checkpoint_steps[-1]
  writing = lambda step: any(
    n.split(".")[0] == str(step) and "orbax-checkpoint-tmp" in n for n in _checkpoints(workdir)
  )
  if moment.kind == "write":
    return lambda t: writing(moment.step)
  if moment.kind == "done":
    return lambda t: (ckpts / str(moment.step)).is_dir()
  if moment.kind == "start":
    delay = moment.fraction * reference.startup_s
    return lambda t: t >= delay or logged()
  if moment.kind == "steps":
    delay = moment.fraction * reference.steps_s
    logged_at: list[float] = []

    def steps_trigger(t: float) -> bool:
      if not logged_at and logged():
        logged_at.append(t)
      return bool(logged_at) and (t >= logged_at[0] + delay or writing(last))

    return steps_trigger
  raise ValueError(moment.kind)


def _launch(command: Command, workdir: Path, log: Path) -> tuple[subprocess.Popen, Any]:
  out = open(log, "w")  # noqa: SIM115 (closed by the caller once the run is over)
  proc = subprocess.Popen(
    command.argv(workdir),
    cwd=REPO,
    env=cli_env(),
    stdout=out,
    stderr=subprocess.STDOUT,
    start_new_session=True,  # its own process group, killed as a whole
  )
  return proc, out


def _tail(log: Path, chars: int = 2500) -> str:
  return log.read_text()[-chars:] if log.exists() else ""


def _run_to_end(command: Command, workdir: Path, log: Path) -> tuple[float, float]:
  """Runs ``command`` to completion; returns (launch to first logged step, the rest) in seconds."""
  logged = _new_step_watch(workdir)
  proc, out = _launch(command, workdir, log)
  t0 = time.perf_counter()
  first = None
  try:
    while proc.poll() is None:
      if first is None and logged():
        first = time.perf_counter() - t0
      assert time.perf_counter() - t0 < RUN_TIMEOUT_S, f"{command.name} hangs:\n{_tail(log)}"
      time.sleep(0.01)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    out.close()
  total = time.perf_counter() - t0
  assert proc.returncode == 0, f"{command.name} failed ({proc.returncode}):\n{_tail(log)}"
  first = total if first is None else first
  return first, total - first


def _run_and_kill(
  command: Command, moment: Moment, reference: Reference, workdir: Path, log: Path
) -> str:
  """Runs ``command`` and SIGKILLs its process group at ``moment``; describes what it hit."""
  trigger = _trigger(moment, command, reference, workdir)
  before = _finished_steps(workdir)
  proc, out = _launch(command, workdir, log)
  t0 = time.perf_counter()
  try:
    while proc.poll() is None and not trigger(time.perf_counter() - t0):
      assert time.perf_counter() - t0 < RUN_TIMEOUT_S, f"{command.name} hangs:\n{_tail(log)}"
      time.sleep(POLL_S)
    alive = proc.poll() is None
    if alive:
      os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
    out.close()
  at = time.perf_counter() - t0
  what = (
    f"kill at {moment} (after {at:.2f} s; resumed from {max(before, default=0)}): "
    f"checkpoints/ then {_checkpoints(workdir)}"
  )
  assert alive, f"{what}: the run ended (exit {proc.returncode}) before it:\n{_tail(log)}"
  assert not (workdir / command.done_file).exists(), f"{what}: the run had already completed"
  return what


def _timeless(record: dict[str, Any]) -> dict[str, Any]:
  """``record`` without wall-clock fields (``step_time_s``, ``time_s``, ``elapsed_s``)."""
  return {k: v for k, v in record.items() if not (k.endswith("time_s") or k == "elapsed_s")}


def _jsonl(path: Path) -> list[dict[str, Any]]:
  return [_timeless(json.loads(line)) for line in path.read_text().splitlines()]


def _restore(workdir: Path, step: int) -> dict[str, Any]:
  """Checkpoint ``step`` of ``workdir`` as nested numpy arrays (no target: as it was saved)."""
  import orbax.checkpoint as ocp

  manager = ocp.CheckpointManager(workdir / "checkpoints", item_names=("state", "meta"))
  try:
    return manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore())
    )
  finally:
    manager.close()


def _leaves(tree: Any) -> dict[str, np.ndarray]:
  import jax

  return {
    jax.tree_util.keystr(path): np.asarray(leaf)
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
  }


def _some(items: list[str], n: int = 4) -> str:
  """The first ``n`` of ``items``, and how many more there are."""
  more = f" (and {len(items) - n} more)" if len(items) > n else ""
  return "; ".join(items[:n]) + more


def _dict_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
  return [
    f"{k} {a.get(k)!r} != {b.get(k)!r}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
  ]


def _differences(command: Command, reference: Path, resumed: Path) -> list[str]:
  """What differs between the outputs of the two workdirs (empty: bit for bit the same)."""
  names = ["metrics.jsonl", "genotype.json", command.done_file]
  if command is SEARCH:
    names += ["genotypes.jsonl", "alphas.npz"]
  missing = [n for n in names if not ((reference / n).exists() and (resumed / n).exists())]
  if missing:
    return [f"missing from one of the workdirs: {missing}"]
  diffs = []
  ref, got = _jsonl(reference / "metrics.jsonl"), _jsonl(resumed / "metrics.jsonl")
  ref_steps = [(r["kind"], r["step"]) for r in ref]
  got_steps = [(r["kind"], r["step"]) for r in got]
  if ref_steps != got_steps:
    diffs.append(f"metrics.jsonl records (kind, step): {ref_steps} != {got_steps}")
  else:
    records = [
      f"({a['kind']}, {a['step']}): {_some(_dict_differences(a, b), 2)}"
      for a, b in zip(ref, got, strict=True)
      if a != b
    ]
    if records:
      diffs.append(f"metrics.jsonl differs at {_some(records)}")
  for name in ("genotype.json", command.done_file):
    a = _timeless(json.loads((reference / name).read_text()))
    b = _timeless(json.loads((resumed / name).read_text()))
    if a != b:
      diffs.append(f"{name}: {_some(_dict_differences(a, b), 2)}")
  if command is SEARCH:
    ref_lines = (reference / "genotypes.jsonl").read_text().splitlines()
    got_lines = (resumed / "genotypes.jsonl").read_text().splitlines()
    if ref_lines != got_lines:
      differ = [i for i, (a, b) in enumerate(zip(ref_lines, got_lines, strict=False)) if a != b]
      diffs.append(
        f"genotypes.jsonl: {len(ref_lines)} / {len(got_lines)} lines, lines {differ} differ"
      )
    with np.load(reference / "alphas.npz") as a, np.load(resumed / "alphas.npz") as b:
      if sorted(a.files) != sorted(b.files):
        diffs.append(f"alphas.npz arrays: {sorted(a.files)} != {sorted(b.files)}")
      else:
        differ = [k for k in a.files if not np.array_equal(a[k], b[k])]
        if differ:
          diffs.append(f"alphas.npz: {differ} differ")
  if _checkpoints(reference) != _checkpoints(resumed):
    diffs.append(f"checkpoints/: {_checkpoints(reference)} != {_checkpoints(resumed)}")
  final = command.total_steps
  if final in _finished_steps(resumed):
    ref_ckpt, got_ckpt = _restore(reference, final), _restore(resumed, final)
    ref_state, got_state = _leaves(ref_ckpt["state"]), _leaves(got_ckpt["state"])
    if sorted(ref_state) != sorted(got_state):
      diffs.append(f"checkpoint {final}: different arrays")
    else:
      differ = [k for k in ref_state if not np.array_equal(ref_state[k], got_state[k])]
      if differ:
        diffs.append(
          f"checkpoint {final}: {len(differ)} of {len(ref_state)} arrays differ: {_some(differ, 3)}"
        )
    meta = _dict_differences(_timeless(ref_ckpt["meta"]), _timeless(got_ckpt["meta"]))
    if meta:
      diffs.append(f"checkpoint {final} record: {_some(meta)}")
  return diffs


@pytest.fixture(scope="module")
def references(tmp_path_factory, cifar_subset, nb201_table_path) -> Callable[[Command], Reference]:
  """The uninterrupted run of a command (run once per module, on first use)."""
  done: dict[str, Reference] = {}

  def reference(command: Command) -> Reference:
    if command.name not in done:
      workdir = tmp_path_factory.mktemp(f"{command.name}-reference") / "workdir"
      startup, steps = _run_to_end(command, workdir, workdir.parent / "log.txt")
      assert _finished_steps(workdir)[-1] == command.total_steps
      done[command.name] = Reference(workdir, startup, steps)
    return done[command.name]

  return reference


@pytest.mark.slow
@pytest.mark.parametrize("name,plan", CASES)
def test_killed_and_resumed_run_equals_the_uninterrupted_one(
  references: Callable[[Command], Reference], tmp_path: Path, name: str, plan: tuple[Moment, ...]
) -> None:
  command = COMMANDS[name]
  reference = references(command)
  workdir = tmp_path / "workdir"
  history = []
  for i, moment in enumerate(plan):
    history.append(
      f"run {i + 1}: "
      + _run_and_kill(command, moment, reference, workdir, tmp_path / f"log{i + 1}.txt")
    )
  resume_from = max(_finished_steps(workdir), default=None)
  log = tmp_path / "log_final.txt"
  _run_to_end(command, workdir, log)
  output = log.read_text()
  history.append(f"run {len(plan) + 1}: completed")
  context = f"seed {KILL_SEED}, {command.name}:\n  " + "\n  ".join(history)
  if resume_from is None:
    assert "resuming" not in output, f"{context}\nresumed without a checkpoint:\n{output[-2000:]}"
  else:
    expected = f"resuming {workdir} from step {resume_from} "
    assert expected in output, f"{context}\nexpected '{expected}' in:\n{output[-2000:]}"
  diffs = _differences(command, reference.workdir, workdir)
  print(context)  # where the kills landed (shown with -rP)
  if diffs:
    pytest.fail(f"{context}\ndifferences from the uninterrupted run:\n  " + "\n  ".join(diffs))
