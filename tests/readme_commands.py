"""The README's code blocks as commands, and running them as a new user would.

The README-verbatim tests (``tests/test_readme_*.py``) run every shell
command and Python block of the README exactly as written, section by
section, in a fresh folder laid out like a checkout (``configs/``,
``launch/``, ``benchmarks/`` and ``../shared`` linked in), with no
``NASJAX_DATA_DIR`` set. :data:`NOT_RUN` names the commands they leave out
and why; :func:`test_every_readme_command_is_run_or_named` (in
``tests/test_readme.py``) fails on a README command that is neither.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, cli_env

README = REPO / "README.md"

#: Commands not run, by a prefix of the command, with the reason.
NOT_RUN = {
  "python3 -m venv .venv": "the install: the tests run in the environment it makes (.ci/run)",
  "pytest ": "the test suite itself",
  "NASJAX_DATA_DIR=../shared/data python -m nasjax.reproduce nb201 --methods=darts_1st,sa_darts,"
  "beta_darts --seeds=3 --scale=cpu": "the CPU-scale study: about two hours on 2 cores",
  "python -m nasjax.retrain --config=configs/retrain/cifar10.py --genotype=runs/": (
    "the full retraining protocol (600 epochs)"
  ),
  "NASJAX_COORDINATOR_ADDRESS=": "a full-size two-process search (tests/test_multiprocess.py)",
  "launch/": "needs GPUs, a TPU pod or SLURM (their -h is checked in tests/test_readme.py)",
  "sbatch ": "needs SLURM",
  "python benchmarks/": "benchmarks: minutes to hours, figures not checks",
  "bash benchmarks/": "fetches wheels, or the GPU check (tests/test_gpu_check.py runs its dry run)",
  "python3 -m venv /tmp/benchvenv": "installs PyTorch for the benchmark comparison",
}


#: The README sections each README-verbatim test runs, in README order.
NB201_SECTIONS = (
  "Install and run",
  "Retraining a genotype",
  "Selecting the architecture, and looking inside the search",
  "Reproducing the papers' tables",
  "Scaling out",
  "The workdir",
  "From a notebook",
)
SR_SECTION = "Super-resolution search"
SEG_SECTION = "Segmentation search"


@dataclasses.dataclass(frozen=True)
class Block:
  """One code block: its section heading, language and text."""

  section: str
  language: str
  text: str


def blocks(readme: Path = README) -> list[Block]:
  """The README's ``bash`` and ``python`` code blocks, in order, with their section."""
  found, section = [], ""
  for part in re.split(r"(^## [^\n]*$|^```\w*\n.*?^```$)", readme.read_text(), flags=re.M | re.S):
    if part.startswith("## "):
      section = part[3:].strip()
    m = re.match(r"```(bash|python)\n(.*)```$", part, re.S)
    if m:
      found.append(Block(section, m.group(1), m.group(2)))
  return found


def commands(block: Block) -> list[str]:
  """A shell block's commands: continuation lines joined, comments and blank lines dropped."""
  joined = re.sub(r"\\\n\s*", "", block.text)
  lines = (line.split("  #")[0].strip() for line in joined.splitlines())
  return [line for line in lines if line and not line.startswith("#")]


def not_run_reason(command: str) -> str | None:
  """Why ``command`` is not run, or None when it is."""
  for prefix, reason in NOT_RUN.items():
    if command.startswith(prefix):
      return reason
  return None


def section_items(section: str) -> list[tuple[str, str]]:
  """``(language, text)`` of what a section's tests run: its commands and Python blocks."""
  items = []
  for block in blocks():
    if block.section != section:
      continue
    if block.language == "python":
      items.append(("python", block.text))
    else:
      items.extend(("bash", c) for c in commands(block) if not_run_reason(c) is None)
  return items


def fresh_checkout(root: Path) -> Path:
  """A folder laid out as a checkout: ``root/nasjax`` with the README's folders, ``root/shared``."""
  checkout = root / "nasjax"
  checkout.mkdir(parents=True)
  for name in ("configs", "launch", "benchmarks"):
    (checkout / name).symlink_to(REPO / name)
  shared = REPO.parent / "shared"
  data = Path(os.environ.get("NASJAX_DATA_DIR", shared / "data")).resolve()
  (root / "shared").mkdir()
  (root / "shared" / "data").symlink_to(data)
  return checkout


def user_env() -> dict[str, str]:
  """The environment of a new user's shell: the installed environment, no ``NASJAX_DATA_DIR``."""
  env = cli_env()
  env.pop("NASJAX_DATA_DIR", None)
  env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
  return env


def run_items(items: list[tuple[str, str]], cwd: Path, timeout: float = 1800) -> list[dict]:
  """Runs each item in ``cwd`` as written; asserts each succeeds; returns their wall times."""
  times = []
  for language, text in items:
    argv = ["bash", "-e", "-o", "pipefail", "-c", text]
    if language == "python":
      argv = [sys.executable, "-c", text]
    start = time.perf_counter()
    out = subprocess.run(
      argv, cwd=cwd, env=user_env(), capture_output=True, text=True, timeout=timeout
    )
    seconds = time.perf_counter() - start
    assert out.returncode == 0, (
      f"README command failed ({out.returncode}): {text}\n"
      f"--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}"
    )
    times.append({"command": text.strip(), "seconds": round(seconds, 1), "stdout": out.stdout})
    print(f"{seconds:7.1f} s  {text.strip()}", flush=True)
  return times
