"""Cold and warm wall time of every ``configs/**:runlocal`` search.

Each search config that has a ``runlocal`` variant (the config files under
``configs/*/``, except the retrain, single-stage and two-stage-retrain files,
and those whose ``get_config("runlocal")`` needs more variants or is not a
search) runs twice as ``python -m nasjax.search --config=FILE:runlocal``:

* **cold**: with an empty persistent compilation cache
  (``--config.compilation_cache=DIR``, :mod:`nasjax.infra.compilation`) and
  an empty workdir;
* **warm**: with the same cache folder, now filled by the cold run, and a
  fresh workdir (so the run starts from scratch, not from a checkpoint).

Reported per config: the wall time of each run (process start to exit, the
interpreter's start and imports included), the step's compile time each run
printed (``search finished: ... (step compile C s)``: the first host call,
compile or cache load included), and steps/s from ``metrics.jsonl``
(1 / the median ``step_time_s`` of its log lines after the first; the first
one times dispatch only, and the median leaves out the lines that span an
epoch's evaluation).

Run (from the repository root; a full run takes hours on a 2-core CPU):
  python benchmarks/runlocal_times.py
  python benchmarks/runlocal_times.py --configs 'configs/nb201/*.py' --out runlocal.json
  python benchmarks/runlocal_times.py --configs configs/nb201/darts_1st.py \\
      configs/nb201/sa_darts.py
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: Config files that are not searches (as ``tests/test_configs.py`` leaves them out).
NOT_SEARCHES = ("retrain", "single_stage", "two_stage_retrain")
FINISHED = re.compile(
  r"finished: (?P<steps>\d+) steps, (?P<epochs>\d+) epochs, (?P<wall>[\d.]+) s"
  r"(?: \(step compile (?P<compile>[\d.]+) s\))?"
)


def search_configs(patterns: list[str], repo: Path = REPO) -> tuple[list[Path], dict[str, str]]:
  """The search config files matching ``patterns`` that have a ``runlocal`` variant.

  Args:
    patterns: globs relative to ``repo`` (e.g. ``configs/*/*.py``).
    repo: the repository root.

  Returns:
    ``(configs, skipped)``: the files to run, sorted, and ``{file: reason}``
    for the matched files left out.
  """
  found = sorted({p for pattern in patterns for p in repo.glob(pattern) if p.suffix == ".py"})
  configs, skipped = [], {}
  for path in found:
    rel = path.relative_to(repo).as_posix()
    if "retrain" in path.relative_to(repo).parts or path.stem in NOT_SEARCHES:
      skipped[rel] = "not a search config"
      continue
    reason = _runlocal_problem(path)
    if reason:
      skipped[rel] = reason
    else:
      configs.append(path)
  return configs, skipped


def _runlocal_problem(path: Path) -> str | None:
  """Why ``path:runlocal`` is no search to run here (None when it is one)."""
  spec = importlib.util.spec_from_file_location(f"_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    config = module.get_config("runlocal")
  except Exception as e:  # a file that composes others needs its own variants
    return f"runlocal alone is not a config: {type(e).__name__}: {e}".splitlines()[0]
  if "regularizers" not in config:
    return "not a search config"
  return None


def steps_per_second(metrics_file: Path) -> float | None:
  """1 / the median ``step_time_s`` of a run's train log lines after the first (None if none)."""
  if not metrics_file.exists():
    return None
  times = []
  for line in metrics_file.read_text().splitlines():
    with contextlib.suppress(json.JSONDecodeError):
      record = json.loads(line)
      if record.get("kind") == "train" and record.get("step_time_s"):
        times.append(record["step_time_s"])
  times = times[1:]  # the first line times the dispatch of its steps only
  return round(1.0 / statistics.median(times), 3) if times else None


def read_search_run(stdout: str, workdir: Path) -> dict[str, Any]:
  """What a finished ``python -m nasjax.search`` run printed and recorded.

  Returns:
    ``steps``, ``epochs``, ``run_s`` (the run's own clock), ``compile_s`` (the
    step's first call), and ``steps_per_s`` (:func:`steps_per_second`); None
    for what it did not say.
  """
  match = FINISHED.search(stdout)
  get = lambda key, kind: kind(match[key]) if match and match[key] is not None else None
  return {
    "steps": get("steps", int),
    "epochs": get("epochs", int),
    "run_s": get("wall", float),
    "compile_s": get("compile", float),
    "steps_per_s": steps_per_second(workdir / "metrics.jsonl"),
  }


@dataclasses.dataclass
class SearchRun:
  """One ``python -m nasjax.search`` subprocess: its command, wall time and outcome."""

  config: str
  workdir: Path
  cache: Path
  overrides: tuple[str, ...] = ()
  timeout: float | None = None

  def command(self) -> list[str]:
    """The command line."""
    return [
      sys.executable,
      "-m",
      "nasjax.search",
      f"--config={self.config}",
      f"--workdir={self.workdir}",
      f"--config.compilation_cache={self.cache}",
      "--config.progress_bar=False",
      *self.overrides,
    ]

  def run(self, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Runs it from the repository root; a row with ``wall_s`` and :func:`read_search_run`.

    A failure or time-out is returned as ``error`` (one line), not raised.
    """
    t0 = time.perf_counter()
    try:
      out = subprocess.run(
        self.command(),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=self.timeout,
        check=False,
      )
    except subprocess.TimeoutExpired:
      wall = round(time.perf_counter() - t0, 1)
      return {"wall_s": wall, "error": f"timed out after {self.timeout:.0f} s"}
    row = {
      "wall_s": round(time.perf_counter() - t0, 1),
      **read_search_run(out.stdout, self.workdir),
    }
    if out.returncode != 0:
      lines = [ln for ln in (out.stderr or out.stdout).strip().splitlines() if ln.strip()]
      row["error"] = f"exit {out.returncode}: " + (lines[-1].strip()[:300] if lines else "")
    return row


def time_config(path: Path, scratch: Path, timeout: float | None) -> dict[str, Any]:
  """The cold and the warm run of ``path:runlocal`` (one cache folder, two workdirs)."""
  rel = path.relative_to(REPO).as_posix()
  name = rel.removeprefix("configs/").removesuffix(".py").replace("/", "_")
  cache = scratch / f"cache_{name}"
  row: dict[str, Any] = {"config": f"{rel}:runlocal"}
  for kind in ("cold", "warm"):
    run = SearchRun(f"{rel}:runlocal", scratch / f"{kind}_{name}", cache, timeout=timeout)
    row[kind] = run.run()
    print(f"{rel} {kind}: {json.dumps(row[kind])}", file=sys.stderr, flush=True)
  return row


def table(rows: list[dict[str, Any]]) -> str:
  """The markdown table: config, cold s, warm s, compile s (cold, warm), steps/s."""
  header = (
    "config",
    "cold s",
    "warm s",
    "compile s (cold)",
    "compile s (warm)",
    "steps/s (cold)",
    "steps/s (warm)",
  )
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in rows:
    cold, warm = row["cold"], row["warm"]
    cell = lambda run, key: "error" if "error" in run and run.get(key) is None else run.get(key)
    values = [
      row["config"],
      cold["wall_s"],
      warm["wall_s"],
      cell(cold, "compile_s"),
      cell(warm, "compile_s"),
      cell(cold, "steps_per_s"),
      cell(warm, "steps_per_s"),
    ]
    lines.append("| " + " | ".join("n/a" if v is None else str(v) for v in values) + " |")
  errors = [
    f"- {row['config']} {kind}: {row[kind]['error']}"
    for row in rows
    for kind in ("cold", "warm")
    if "error" in row[kind]
  ]
  return "\n".join(lines + ([""] + errors if errors else []))


def main() -> None:
  """The command line (see the module docstring)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--configs",
    nargs="+",
    default=["configs/*/*.py"],
    help="globs of config files, relative to the repository root (default: configs/*/*.py)",
  )
  parser.add_argument("--out", type=Path, help="also write the rows as JSON to this file")
  parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
  parser.add_argument(
    "--scratch", type=Path, help="folder for the workdirs and caches (default: a temporary one)"
  )
  args = parser.parse_args()
  configs, skipped = search_configs(args.configs)
  for rel, reason in skipped.items():
    print(f"skipped {rel}: {reason}", file=sys.stderr)
  if not configs:
    parser.error(f"no search config with a runlocal variant matches {args.configs}")
  with contextlib.ExitStack() as stack:
    scratch = args.scratch or Path(stack.enter_context(tempfile.TemporaryDirectory()))
    scratch.mkdir(parents=True, exist_ok=True)
    rows = [time_config(path, scratch, args.timeout) for path in configs]
  result = {
    "python": sys.version.split()[0],
    "cpus": os.cpu_count(),
    "rows": rows,
    "skipped": skipped,
  }
  if args.out:
    args.out.write_text(json.dumps(result, indent=1) + "\n")
  print(
    "\nrunlocal searches, cold (empty compilation cache) and warm (the same cache, a fresh "
    "workdir); wall s from process start to exit; steps/s from metrics.jsonl\n"
  )
  print(table(rows))


if __name__ == "__main__":
  main()
