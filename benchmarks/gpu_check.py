"""nasjax on one GPU in one call: step times beside PyTorch, seeds, compile times, a real search.

``benchmarks/gpu_check.sh`` installs nasjax without network and runs this
file; it writes ``gpu_check.json`` and ``gpu_check.md`` into ``--out``. The
stages, each with its own time budget (``--budget STAGE=SECONDS``) under the
whole check's ``--deadline``:

  install  ``pip install --no-index --find-links WHEELS -e .`` (this
           interpreter; again with ``--no-build-isolation`` if that fails);
           if the folder cannot satisfy a requirement, its wheels of
           projects not installed here and nasjax go in with ``--no-deps``;
           then ``import nasjax.search`` must work. A dry run only resolves
           setup.cfg's requirements (``pip install --dry-run``)
  env      jax's version, backend and device; nasjax's version; torch's
           version and device; ``nvidia-smi``
  steps    nasjax's search step on the NAS-Bench-201 (C=16, N=5) and DARTS
           (C=16, 8 cells) supernets, batch 64, 32x32: first order, exact
           and FD second order, float32 and bfloat16; one process per row
           (``step_time.run_nasjax``): compile s, ms/step, memory
  torch    the PyTorch reference (``torch_darts_reference.py``) on the same
           supernets, first and FD second order, f32 and bf16 autocast,
           eager and ``torch.compile`` (eager rows first)
  seeds    10 seeds as one vmapped program (``config.num_seeds``) against one
  compile  each nasjax program's compile seconds cold (every row above
           compiled with an empty persistent compilation cache) and warm
           (the first program of each space compiled again with that cache
           filled), and each PyTorch row's first step minus its median step
  search   ``python -m nasjax.search`` on the NB201 protocol's network
           (``configs/nb201/darts_1st.py``: C=16, N=5, batch 64, precision
           ``auto``, i.e. bfloat16 on the GPU) for ``--search-epochs`` (1) of
           the CIFAR-10 subset in ``$NASJAX_DATA_DIR``; its steps/s
           extrapolate the protocol's search (its epochs x its steps per
           epoch, read from the config file: 50 x 390) plus the compile

On the GPU the stages' budgets add up to 435 s and no item runs past 450 s
(``--deadline``: every child's timeout ends by then), so gpu_check.sh ends
within 8 minutes.
A stage that fails, or an item that fails or does not fit its stage's
budget, is recorded with a one-line error and the check goes on. The JSON
and the markdown are rewritten after every stage, so a check cut short
still leaves what it measured.

``--dry-run`` runs every stage on the CPU with tiny sizes (C=4, one cell per
stage, batch 4, 2 timed steps, 2 seeds, one epoch of the ``runlocal``
search) and, unless ``--spaces``/``--modes`` ask for more, the NB201 first
order step only (a DARTS-space compile takes minutes on a CPU); PyTorch on
the CPU if ``--torch-python`` (or this interpreter) imports torch, eager
only. It finishes in about 5 minutes on a 2-core CPU and is what
``tests/test_gpu_check.py`` runs.

Run:
  bash benchmarks/gpu_check.sh                          # on the GPU machine
  bash benchmarks/gpu_check.sh --dry-run --out /tmp/gc  # here, on the CPU
  python benchmarks/gpu_check.py --dry-run --spaces nb201 --modes first_order \\
      --precisions float32 --out /tmp/gc
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
  sys.path.insert(0, str(HERE))

import runlocal_times  # noqa: E402
import step_time  # noqa: E402
from step_time import BenchmarkError, StepSpec, TorchSpec, one_line  # noqa: E402

STAGES = ("install", "env", "steps", "torch", "seeds", "compile", "search")
#: Seconds per stage on the GPU: 435 s in all, under the check's :data:`GPU_DEADLINE_S`.
GPU_BUDGETS = {
  "install": 45,
  "env": 20,
  "steps": 140,
  "torch": 95,
  "seeds": 40,
  "compile": 20,
  "search": 75,
}
#: The whole check on the GPU, seconds: gpu_check.sh ends within 8 minutes.
GPU_DEADLINE_S = 450.0
#: Seconds per stage of a dry run on a 2-core CPU (what does not fit is recorded as skipped).
DRY_BUDGETS = {
  "install": 60,
  "env": 45,
  "steps": 180,
  "torch": 90,
  "seeds": 120,
  "compile": 60,
  "search": 180,
}
#: An item is not started with fewer seconds than this left in its stage.
MIN_ITEM_S = 5.0
#: Training images of the datasets a search protocol names (for its steps per epoch).
TRAIN_IMAGES = {"cifar10": 50_000, "cifar100": 50_000, "svhn": 73_257}
NO_TORCH = "not run: no torch"


@dataclasses.dataclass(frozen=True)
class Plan:
  """What a check runs, at which sizes, within which budgets."""

  dry_run: bool
  spaces: tuple[str, ...]
  modes: tuple[str, ...]
  precisions: tuple[str, ...]
  batch: int
  channels: int
  nb201_cells: int
  darts_cells: int
  image: int
  steps: int
  seeds: int
  torch_python: str | None
  torch_script: str
  torch_device: str
  torch_threads: int
  torch_variants: tuple[str, ...]
  search_config: str
  search_overrides: tuple[str, ...]
  wheels: str
  budgets: dict[str, float]
  deadline_s: float
  item_timeout_s: float
  hugetlb: bool

  def cells(self, space: str) -> int:
    """Cells per stage (nb201) or cells (darts) of ``space``."""
    return self.nb201_cells if space == "nb201" else self.darts_cells

  def child_env(self) -> dict[str, str]:
    """Variables set for the measured children (the CPU backend in a dry run)."""
    return {"JAX_PLATFORMS": "cpu"} if self.dry_run else {}

  def seeds_precision(self) -> str:
    """The precision of the seeds stage: bfloat16 on the GPU when measured, else the first."""
    return "bfloat16" if not self.dry_run and "bfloat16" in self.precisions else self.precisions[0]


def _resolve_torch_python(given: str | None) -> str | None:
  """``given`` (``none`` = no torch), else this interpreter if it imports torch, else None."""
  if given:
    return None if given.lower() == "none" else given
  probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, check=False)
  return sys.executable if probe.returncode == 0 else None


def make_plan(args: argparse.Namespace) -> Plan:
  """The plan of a check from its command line."""
  dry = args.dry_run
  budgets = dict(DRY_BUDGETS if dry else GPU_BUDGETS)
  for item in args.budget or []:
    stage, _, seconds = item.partition("=")
    if stage not in budgets:
      raise SystemExit(f"--budget {item}: the stages with budgets are {sorted(budgets)}")
    budgets[stage] = float(seconds)
  search_config = args.search_config or (
    "configs/nb201/darts_1st.py:runlocal" if dry else "configs/nb201/darts_1st.py"
  )
  base_overrides = (
    ("config.epochs=1", "config.data.train_limit=256", "config.log_every_steps=1")
    if dry
    else (
      "config.data.source=npz",
      f"config.epochs={args.search_epochs}",
      "config.log_every_steps=5",
    )
  )
  overrides = tuple(f"--{o}" for o in base_overrides + tuple(args.search_set or ()))
  return Plan(
    dry_run=dry,
    spaces=tuple(args.spaces or (("nb201",) if dry else ("nb201", "darts"))),
    modes=tuple(args.modes or (("first_order",) if dry else step_time.MODES)),
    precisions=tuple(args.precisions),
    batch=args.batch or (4 if dry else 64),
    channels=args.channels or (4 if dry else 16),
    nb201_cells=1 if dry else 5,
    darts_cells=3 if dry else 8,
    image=32,
    steps=args.steps or (2 if dry else 10),
    seeds=args.seeds or (2 if dry else 10),
    torch_python=_resolve_torch_python(args.torch_python),
    torch_script=str(args.torch_script),
    torch_device="cpu" if dry else "cuda",
    torch_threads=1 if dry else 4,
    torch_variants=tuple(args.torch_variants or (("eager",) if dry else ("eager", "compile"))),
    search_config=search_config,
    search_overrides=overrides,
    wheels=str(args.wheels),
    budgets=budgets,
    deadline_s=args.deadline or (sum(budgets.values()) + 30 if dry else GPU_DEADLINE_S),
    item_timeout_s=args.item_timeout or (300.0 if dry else 150.0),
    hugetlb=args.hugetlb,
  )


class Stage:
  """One stage's record and clock: its rows, status, one-line error and budget."""

  def __init__(self, name: str, budget: float, check_deadline: float):
    self.name = name
    self.budget = budget
    self.t0 = time.monotonic()
    self.deadline = min(self.t0 + budget, check_deadline)
    self.record: dict[str, Any] = {
      "stage": name,
      "status": "ok",
      "error": None,
      "budget_s": budget,
      "wall_s": None,
      "rows": [],
    }

  def left(self) -> float:
    """Seconds left in this stage's budget."""
    return self.deadline - time.monotonic()

  def item(
    self,
    what: str,
    fn: Callable[[float], dict[str, Any]],
    cap: float,
    fields: dict[str, Any] | None = None,
  ) -> dict[str, Any]:
    """Runs ``fn(timeout)`` as one row; a failure or a spent budget becomes the row's error.

    Args:
      what: the row's label.
      fn: measures, given its timeout in seconds; raises :class:`BenchmarkError`.
      cap: the most seconds the item may take (less when the stage has less left).
      fields: what the row is (e.g. its space and mode), kept in a failed row too.
    """
    row = {"what": what, **(fields or {})}
    left = self.left()
    if left < MIN_ITEM_S:
      row["error"] = f"skipped: the {self.name} stage's {self.budget:.0f} s were spent"
    else:
      try:
        row.update(fn(min(cap, left)))
      except BenchmarkError as e:
        row["error"] = str(e)
    print(f"[{self.name}] {json.dumps(row)}", file=sys.stderr, flush=True)
    self.record["rows"].append(row)
    return row

  def close(self) -> dict[str, Any]:
    """The record, with its wall time and, when rows failed, a one-line summary."""
    record = self.record
    record["wall_s"] = round(time.monotonic() - self.t0, 1)
    failed = [r for r in record["rows"] if "error" in r]
    if record["status"] == "ok" and failed:
      record["status"] = "partial" if len(failed) < len(record["rows"]) else "error"
      record["error"] = (
        f"{len(failed)} of {len(record['rows'])} rows failed; first: " + (failed[0]["error"])
      )
    return record


class Check:
  """A running check: its plan, the compilation cache of its programs, its stages."""

  def __init__(self, plan: Plan, out: Path):
    self.plan = plan
    self.out = out
    self.t0 = time.monotonic()
    self.deadline = self.t0 + plan.deadline_s
    self.scratch = Path(tempfile.mkdtemp(prefix="nasjax_gpu_check_"))
    self.cache_dir = self.scratch / "xla_cache"  # fresh: every first compile is a cold one
    self.nasjax_rows: dict[StepSpec, dict[str, Any]] = {}
    self.torch_rows: dict[TorchSpec, dict[str, Any]] = {}
    self.result: dict[str, Any] = {
      "check": "nasjax gpu_check",
      "dry_run": plan.dry_run,
      "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
      "wall_s": None,
      "plan": dataclasses.asdict(plan),
      "stages": {},
    }

  # --- the measured items ----------------------------------------------------------------

  def spec(self, space: str, mode: str, precision: str, seeds: int = 1) -> StepSpec:
    """The nasjax step of ``space`` at the plan's sizes (compiled into the check's cache)."""
    p = self.plan
    return StepSpec(
      space=space,
      mode=mode,
      batch=p.batch,
      seeds=seeds,
      channels=p.channels,
      cells=p.cells(space),
      image=p.image,
      steps=p.steps,
      precision=precision,
      cache_dir=str(self.cache_dir),
    )

  def nasjax_row(self, stage: Stage, spec: StepSpec) -> dict[str, Any]:
    """``spec``'s row, measured once per check (later stages reuse it)."""
    cached = self.nasjax_rows.get(spec)
    if cached is not None and not cached.get("error", "").startswith("skipped"):
      return cached

    def run(timeout: float) -> dict[str, Any]:
      return step_time.run_nasjax(
        spec, hugetlb=self.plan.hugetlb, timeout=timeout, env_extra=self.plan.child_env()
      )

    fields = {"space": spec.space, "mode": spec.mode, "precision": spec.precision}
    fields["seeds"] = spec.seeds
    row = stage.item(spec.describe(), run, self.plan.item_timeout_s, fields)
    self.nasjax_rows[spec] = row
    return row

  def torch_spec(self, space: str, order: int, bf16: bool, compiled: bool) -> TorchSpec:
    """The PyTorch reference run beside ``space``'s nasjax rows."""
    p = self.plan
    return TorchSpec(
      space=space,
      batch=p.batch,
      order=order,
      channels=p.channels,
      cells=p.cells(space),
      steps=p.steps,
      warmup=2,
      threads=p.torch_threads,
      device=p.torch_device,
      compile=compiled,
      bf16=bf16,
    )

  # --- the stages --------------------------------------------------------------------------

  def stage_install(self, stage: Stage) -> None:
    """nasjax and what this machine lacks, from the wheels folder alone (no network)."""
    p = self.plan
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", p.wheels]
    if p.dry_run:  # resolve nasjax's requirements, install nothing
      tries = [("resolved (--dry-run)", [*pip, "--dry-run", *_install_requires()])]
    else:
      tries = [
        ("resolved", [*pip, "-e", str(REPO)]),  # setuptools and wheel from the folder
        ("resolved, --no-build-isolation", [*pip, "--no-build-isolation", "-e", str(REPO)]),
      ]
    stage.record["command"] = " ".join(["pip", *tries[0][1][3:]])

    def install(timeout: float) -> dict[str, Any]:
      t0 = time.monotonic()
      left = lambda: max(timeout - (time.monotonic() - t0), 5.0)
      failures = []
      for method, cmd in tries:
        out = _run(cmd, left())
        if out.returncode == 0:
          break
        failures.append(f"{method}: exit {out.returncode}: {_pip_error(out)}")
      row = {"method": method, "failed_first": failures}
      if out.returncode != 0 and not p.dry_run:
        # The folder cannot satisfy a requirement (another version here, say): its wheels of
        # projects not installed here, then nasjax, without resolving.
        missing = _wheels_not_installed(Path(p.wheels))
        row.update(method="--no-deps", no_deps_wheels=[w.name for w in missing])
        bare = [*pip[:4], "--no-index", "--no-deps"]  # python -m pip install, no resolving
        if missing:
          _run([*bare, *map(str, missing)], left())
        out = _run([*bare, "--no-build-isolation", "-e", str(REPO)], left())
      if out.returncode != 0:
        raise BenchmarkError("; ".join(failures + [f"exit {out.returncode}: {_pip_error(out)}"]))
      probe = _run([sys.executable, "-c", "import nasjax.search, ml_collections"], left())
      if probe.returncode != 0:
        raise BenchmarkError(f"import nasjax.search: {one_line(probe.stderr)}")
      row["last_line"] = one_line(out.stdout)
      row["install_s"] = round(time.monotonic() - t0, 1)
      return row

    stage.item("pip install", install, stage.budget)
    if p.dry_run:
      stage.record["note"] = "dry run: pip resolved nasjax's requirements and installed nothing"

  def stage_env(self, stage: Stage) -> None:
    """jax, nasjax, torch and the GPU as the children see them."""
    code = (
      "import json, platform, jax\n"
      "d = jax.local_devices()[0]\n"
      "row = {'python': platform.python_version(), 'jax': jax.__version__,\n"
      "       'backend': jax.default_backend(), 'device': d.device_kind,\n"
      "       'device_count': jax.device_count()}\n"
      "try:\n"
      "  import nasjax; row['nasjax'] = nasjax.__version__\n"
      "except Exception as e:\n"
      "  row['error'] = f'import nasjax: {type(e).__name__}: {e}'\n"
      "print(json.dumps(row))\n"
    )
    env = self.plan.child_env()
    jax_row = stage.item("jax", lambda t: _python_json(sys.executable, code, t, env), 60)
    if not self.plan.dry_run and jax_row.get("backend") not in (None, "gpu", "cuda"):
      stage.record["rows"][-1]["error"] = f"jax's backend is {jax_row['backend']}, not the GPU"
    if self.plan.torch_python:
      code = (
        "import json, torch\n"
        "cuda = torch.cuda.is_available()\n"
        "print(json.dumps({'torch': torch.__version__, 'cuda': cuda,\n"
        "  'device': torch.cuda.get_device_name(0) if cuda else 'cpu'}))\n"
      )
      python = self.plan.torch_python
      stage.item("torch", lambda t: _python_json(python, code, t), 60)
    else:
      stage.record["rows"].append({"what": "torch", "note": NO_TORCH})
    if shutil.which("nvidia-smi"):
      stage.item("nvidia-smi", _nvidia_smi, 20)

  def stage_steps(self, stage: Stage) -> None:
    """nasjax's step per space, hypergradient and precision (NB201 first)."""
    p = self.plan
    for space in p.spaces:
      for mode in p.modes:
        for precision in p.precisions:
          self.nasjax_row(stage, self.spec(space, mode, precision))

  def stage_torch(self, stage: Stage) -> None:
    """The PyTorch reference beside the steps: every eager run, then the compiled ones."""
    p = self.plan
    if not p.torch_python:
      stage.record.update(status="not run", error=f"{NO_TORCH} (pass --torch-python PY)")
      return
    if not Path(p.torch_script).is_file():
      raise FileNotFoundError(f"the PyTorch reference {p.torch_script} is missing")
    orders = sorted({1 if m == "first_order" else 2 for m in p.modes})
    for compiled in [v == "compile" for v in p.torch_variants]:
      for space in p.spaces:
        for order in orders:
          for precision in p.precisions:
            spec = self.torch_spec(space, order, precision == "bfloat16", compiled)

            def run(timeout: float, spec: TorchSpec = spec) -> dict[str, Any]:
              return step_time.run_torch(
                p.torch_python, p.torch_script, spec, hugetlb=p.hugetlb, timeout=timeout
              )

            fields = {"space": space, "order": order, "bf16": spec.bf16, "compile": compiled}
            self.torch_rows[spec] = stage.item(spec.describe(), run, p.item_timeout_s, fields)

  def stage_seeds(self, stage: Stage) -> None:
    """``plan.seeds`` seeds as one program against one seed (NB201, first order)."""
    precision = self.plan.seeds_precision()
    one = self.nasjax_row(stage, self.spec("nb201", "first_order", precision))
    many = self.nasjax_row(stage, self.spec("nb201", "first_order", precision, self.plan.seeds))
    rows = []
    for row in (one, many):
      rows.append(row if row in stage.record["rows"] else {**row, "reused": "steps stage"})
    stage.record["rows"] = rows
    if "error" not in one and "error" not in many:
      stage.record["vs_1_seed"] = step_time.ratio(many["ms_per_step"], one["ms_per_step"])
      stage.record["ms_per_seed"] = round(many["ms_per_step"] / self.plan.seeds, 2)

  def stage_compile(self, stage: Stage) -> None:
    """Cold compile seconds of every nasjax program, warm ones of each space's first."""
    warm_of: dict[StepSpec, dict[str, Any]] = {}
    for space in self.plan.spaces:
      measured = [s for s, r in self.nasjax_rows.items() if s.space == space and "error" not in r]
      if measured:
        spec = measured[0]

        def run(timeout: float, spec: StepSpec = spec) -> dict[str, Any]:
          return step_time.run_nasjax(
            spec, hugetlb=self.plan.hugetlb, timeout=timeout, env_extra=self.plan.child_env()
          )

        warm_of[spec] = stage.item(f"{spec.describe()} (warm cache)", run, self.plan.item_timeout_s)
    rows = []  # the programs measured (a failed one's error stays in its own stage)
    for spec, row in self.nasjax_rows.items():
      if "error" in row:
        continue
      warm = warm_of.get(spec, {})
      rows.append(
        {
          "what": spec.describe(),
          "impl": "nasjax",
          "cold_compile_s": row["compile_s"],
          "warm_compile_s": warm.get("compile_s"),
          **({"error": f"warm: {warm['error']}"} if "error" in warm else {}),
        }
      )
    for spec, row in self.torch_rows.items():
      if "error" not in row:
        rows.append(
          {
            "what": spec.describe(),
            "impl": "torch",
            "compile_s": row["compile_s"],
            "compile_s_is": step_time.TORCH_COMPILE_S,
          }
        )
    if not rows:
      raise BenchmarkError("no program was measured before this stage")
    stage.record["rows"] = rows

  def stage_search(self, stage: Stage) -> None:
    """A short search; its steps/s extrapolate the protocol's search time."""
    p = self.plan
    protocol = _protocol(p.search_config, min(30.0, max(stage.left(), 1.0)))
    stage.record["protocol"] = protocol
    workdir = self.scratch / "search"
    run = runlocal_times.SearchRun(
      p.search_config,
      workdir,
      self.scratch / "search_cache",
      overrides=p.search_overrides,
      timeout=max(stage.left(), 1.0),
    )
    env = step_time.child_env(p.hugetlb, p.child_env())
    env.setdefault("PYTHONUNBUFFERED", "1")
    row = {"what": p.search_config, "command": " ".join(run.command()[1:]), **run.run(env)}
    if row.get("steps_per_s") and protocol.get("steps"):
      seconds = protocol["steps"] / row["steps_per_s"] + (row.get("compile_s") or 0.0)
      row["extrapolated_s"] = round(seconds, 1)
      row["extrapolated_h"] = round(seconds / 3600, 2)
    elif "error" not in row:
      row["error"] = "the run recorded no step time to extrapolate from"
    print(f"[search] {json.dumps(row)}", file=sys.stderr, flush=True)
    stage.record["rows"].append(row)

  # --- running and writing -----------------------------------------------------------------

  def run(self, only: tuple[str, ...] = STAGES) -> dict[str, Any]:
    """Runs the stages in order, writing the JSON and the markdown after each."""
    self.write()
    for name in STAGES:
      if name not in only:
        self.result["stages"][name] = {
          "stage": name,
          "status": "not run",
          "error": "not run: left out by --stages",
          "rows": [],
        }
        continue
      stage = Stage(name, self.plan.budgets[name], self.deadline)
      if stage.left() < MIN_ITEM_S:
        stage.record.update(
          status="skipped", error=f"skipped: the check's {self.plan.deadline_s:.0f} s were spent"
        )
      else:
        try:
          getattr(self, f"stage_{name}")(stage)
        except Exception as e:  # a stage's failure is recorded; the next stage runs
          stage.record.update(status="error", error=one_line(f"{type(e).__name__}: {e}"))
      self.result["stages"][name] = stage.close()
      print(f"[{name}] {stage.record['status']} in {stage.record['wall_s']} s", file=sys.stderr)
      self.write()
    self.result["wall_s"] = round(time.monotonic() - self.t0, 1)
    self.write()
    shutil.rmtree(self.scratch, ignore_errors=True)
    return self.result

  def write(self) -> None:
    """``gpu_check.json`` and ``gpu_check.md`` in the output folder."""
    self.out.mkdir(parents=True, exist_ok=True)
    (self.out / "gpu_check.json").write_text(json.dumps(self.result, indent=1) + "\n")
    (self.out / "gpu_check.md").write_text(markdown(self.result) + "\n")


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
  """Runs ``cmd`` from the repository root, output captured.

  Raises:
    BenchmarkError: when it outlasts ``timeout`` seconds.
  """
  try:
    return subprocess.run(
      cmd, cwd=REPO, capture_output=True, text=True, timeout=max(timeout, 1.0), check=False
    )
  except subprocess.TimeoutExpired:
    raise BenchmarkError(f"{' '.join(cmd[:4])}...: timed out after {timeout:.0f} s") from None


def _pip_error(out: subprocess.CompletedProcess) -> str:
  """pip's first ``ERROR:``/``error:`` line, else its last line."""
  lines = [ln.strip() for ln in (out.stderr + out.stdout).splitlines()]
  errors = [ln for ln in lines if ln.lower().startswith("error:") and "subprocess" not in ln]
  return one_line(errors[0] if errors else out.stderr or out.stdout)


def _install_requires() -> list[str]:
  """``install_requires`` of setup.cfg (what ``pip install -e .`` resolves)."""
  import configparser

  parser = configparser.ConfigParser()
  parser.read(REPO / "setup.cfg")
  lines = parser.get("options", "install_requires").splitlines()
  return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def _wheels_not_installed(folder: Path) -> list[Path]:
  """The wheels in ``folder`` of projects this interpreter has no version of."""
  import importlib.metadata

  missing = []
  for wheel in sorted(folder.glob("*.whl")):
    name = wheel.name.split("-")[0]
    try:
      importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
      missing.append(wheel)
  return missing


def _python_json(python: str, code: str, timeout: float, env_extra: dict | None = None) -> dict:
  """Runs ``python -c code`` and returns the JSON of its last line."""
  return step_time.run_child(
    [python, "-c", code], "probe", hugetlb=False, timeout=timeout, env_extra=env_extra
  )


def _nvidia_smi(timeout: float) -> dict[str, Any]:
  query = "--query-gpu=name,memory.total,driver_version,clocks.max.sm"
  try:
    out = subprocess.run(
      ["nvidia-smi", query, "--format=csv,noheader"],
      capture_output=True,
      text=True,
      timeout=timeout,
      check=False,
    )
  except subprocess.TimeoutExpired:
    raise BenchmarkError(f"nvidia-smi: timed out after {timeout:.0f} s") from None
  if out.returncode != 0:
    raise BenchmarkError(f"nvidia-smi: exit {out.returncode}: {one_line(out.stderr)}")
  return {"gpu": out.stdout.strip()}


_PROTOCOL_CODE = """
import importlib.util, json, sys
from nasjax.data.split import split_indices
path, train_images = sys.argv[1], json.loads(sys.argv[2])
spec = importlib.util.spec_from_file_location("protocol_config", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
c = module.get_config(None)
n = train_images[c.data.name]
w, a = split_indices(n, c.seed, c.data.split_policy, c.data.split_ratio)
spe = min(len(w), len(a)) // c.batch_size
print(json.dumps({"config": path, "dataset": c.data.name, "train_images": n,
  "split_policy": c.data.split_policy, "batch": c.batch_size, "channels": c.space.channels,
  "epochs": c.epochs, "steps_per_epoch": spe, "steps": c.epochs * spe}))
"""


def _protocol(search_config: str, timeout: float) -> dict[str, Any]:
  """The full protocol of the search's config file (no variants): epochs, steps per epoch."""
  path = search_config.split(":")[0]
  try:
    return step_time.run_child(
      [sys.executable, "-c", _PROTOCOL_CODE, str(REPO / path), json.dumps(TRAIN_IMAGES)],
      f"protocol of {path}",
      hugetlb=False,
      timeout=timeout,
      env_extra={"JAX_PLATFORMS": "cpu"},
    )
  except BenchmarkError as e:
    return {"config": path, "error": str(e)}


# --- the markdown ------------------------------------------------------------------------------


def _cell(row: dict[str, Any] | None, key: str, missing: str = "n/a") -> Any:
  """A table cell: the value, ``error``/``skipped`` for a failed row, ``missing`` for no row."""
  if row is None:
    return missing
  if "error" in row and row.get(key) is None:
    return "skipped" if row["error"].startswith("skipped") else "error"
  value = row.get(key)
  return "n/a" if value is None else value


def _find(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
  for row in rows:
    if all(row.get(k) == v for k, v in match.items()):
      return row
  return None


def _torch_row(result: dict, stage: dict, space: str, order: int, bf16: bool, compiled: bool):
  """The torch stage's row for a table cell, or a note why there is none."""
  if stage.get("status") == "not run":
    return None, NO_TORCH
  row = _find(stage.get("rows", []), space=space, order=order, bf16=bf16, compile=compiled)
  variant = "compile" if compiled else "eager"
  if row is None:
    planned = variant in result["plan"]["torch_variants"]
    return None, "not run" if planned else f"not run: {variant} not in --torch-variants"
  return row, None


def step_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
  """The side-by-side rows: one per nasjax step, with its PyTorch runs."""
  steps = result["stages"].get("steps", {})
  torch_stage = result["stages"].get("torch", {})
  rows = []
  for row in steps.get("rows", []):
    space, mode, precision = row["space"], row["mode"], row["precision"]
    order = 1 if mode == "first_order" else 2
    eager, eager_note = _torch_row(
      result, torch_stage, space, order, precision == "bfloat16", False
    )
    comp, comp_note = _torch_row(result, torch_stage, space, order, precision == "bfloat16", True)
    mb = row.get("device_peak_mb") if row.get("device_peak_mb") is not None else None
    rows.append(
      {
        "space": space,
        "precision": precision,
        "nasjax mode": mode,
        "nasjax ms": _cell(row, "ms_per_step"),
        "nasjax compile s": _cell(row, "compile_s"),
        "nasjax MB": _cell(row, "device_peak_mb") if mb is not None else _cell(row, "xla_peak_mb"),
        "torch order": "1" if order == 1 else "2 (FD)",
        "torch eager ms": eager_note or _cell(eager, "ms_per_step"),
        "torch eager compile s*": eager_note or _cell(eager, "compile_s"),
        "torch.compile ms": comp_note or _cell(comp, "ms_per_step"),
        "torch.compile compile s*": comp_note or _cell(comp, "compile_s"),
        "torch MB": eager_note
        or _cell(
          eager, "peak_device_mb" if result["plan"]["torch_device"] == "cuda" else "peak_rss_mb"
        ),
        "nasjax/eager": step_time.ratio(row.get("ms_per_step"), (eager or {}).get("ms_per_step")),
        "nasjax/compiled": step_time.ratio(row.get("ms_per_step"), (comp or {}).get("ms_per_step")),
      }
    )
  return rows


def markdown(result: dict[str, Any]) -> str:
  """The check as markdown: the stages, then one table per stage that measures."""
  plan, stages = result["plan"], result["stages"]
  env_rows = stages.get("env", {}).get("rows", [])
  jax_row, torch_row = _find(env_rows, what="jax") or {}, _find(env_rows, what="torch") or {}
  lines = [
    f"# nasjax GPU check{' (dry run, CPU, tiny sizes)' if result['dry_run'] else ''}",
    "",
    f"{result['started']}; device {jax_row.get('device', 'n/a')} "
    f"({jax_row.get('backend', 'n/a')}), "
    f"jax {jax_row.get('jax', 'n/a')}, nasjax {jax_row.get('nasjax', 'n/a')}, "
    f"torch {torch_row.get('torch', NO_TORCH)} on {plan['torch_device']}; "
    f"wall {result['wall_s'] if result['wall_s'] is not None else 'running'} s",
    "",
    "| stage | status | wall s | budget s | error |",
    "|---|---|---|---|---|",
  ]
  for name in STAGES:
    s = stages.get(name)
    if s is None:
      lines.append(f"| {name} | pending | n/a | n/a | |")
      continue
    error = (s.get("error") or "").replace("|", "/")
    lines.append(
      f"| {name} | {s['status']} | {step_time.fmt(s.get('wall_s'))} | "
      f"{step_time.fmt(s.get('budget_s'))} | {error} |"
    )
  sizes = (
    f"batch {plan['batch']}, C={plan['channels']}, NB201 N={plan['nb201_cells']}, "
    f"DARTS {plan['darts_cells']} cells, {plan['image']}x{plan['image']}, "
    f"median of {plan['steps']} steps"
  )
  rows = step_rows(result)
  if rows:
    lines += ["", f"## Search step: nasjax beside the PyTorch reference ({sizes})", ""]
    lines.append(step_time.markdown_table(list(rows[0]), rows))
    lines += [
      "",
      f"\\* PyTorch compile s: {step_time.TORCH_COMPILE_S} (the reference times no compile of "
      "its own: eager's first-call set-up, or torch.compile's tracing and compilation); nasjax "
      "compile s: lowering + XLA compilation of the step. MB: device peak (GPU), else XLA's "
      "estimate (nasjax) / peak RSS (PyTorch on the CPU).",
    ]
  seeds = stages.get("seeds", {})
  if seeds.get("rows"):
    lines += ["", f"## {plan['seeds']} seeds as one program against one (NB201, first order)", ""]
    seed_rows = [
      {
        "seeds": r.get("seeds", "n/a"),
        "precision": r.get("precision", "n/a"),
        "ms/step": _cell(r, "ms_per_step"),
        "ms per seed": step_time.ratio(r.get("ms_per_step"), r.get("seeds")),
        "vs 1 seed": step_time.ratio(
          r.get("ms_per_step"), (seeds["rows"][0] or {}).get("ms_per_step")
        ),
        "compile s": _cell(r, "compile_s"),
        "device MB": _cell(r, "device_peak_mb"),
        "XLA MB": _cell(r, "xla_peak_mb"),
      }
      for r in seeds["rows"]
    ]
    lines.append(step_time.markdown_table(list(seed_rows[0]), seed_rows))
  comp = stages.get("compile", {})
  nasjax_compile = [r for r in comp.get("rows", []) if r.get("impl") == "nasjax"]
  if nasjax_compile:
    lines += ["", "## Compile seconds: cold (empty persistent cache) and warm (cache filled)", ""]
    crow = [
      {
        "program": r["what"],
        "cold s": _cell(r, "cold_compile_s"),
        "warm s": step_time.fmt(r.get("warm_compile_s")),
        "cold/warm": step_time.ratio(r.get("cold_compile_s"), r.get("warm_compile_s")),
      }
      for r in nasjax_compile
    ]
    lines.append(step_time.markdown_table(list(crow[0]), crow))
  search = stages.get("search", {})
  if search.get("rows"):
    protocol = search.get("protocol", {})
    r = search["rows"][0]
    srow = {
      "config": r["what"],
      "steps": _cell(r, "steps"),
      "steps/s": _cell(r, "steps_per_s"),
      "compile s": _cell(r, "compile_s"),
      "wall s": _cell(r, "wall_s"),
      "protocol": (
        f"{protocol.get('epochs')} epochs x {protocol.get('steps_per_epoch')} steps "
        f"(batch {protocol.get('batch')})"
        if "error" not in protocol
        else "error"
      ),
      "extrapolated search h": _cell(r, "extrapolated_h"),
    }
    lines += ["", "## A real search on the CIFAR-10 subset, extrapolated to the protocol", ""]
    lines.append(step_time.markdown_table(list(srow), [srow]))
    lines += [
      "",
      "Extrapolated: the step's compile plus the protocol's steps at the measured steps/s "
      "(1 / the median step time of the run's log lines after the first); the per-epoch "
      "evaluation and checkpoints are not included."
      + (" Dry run: runlocal's network, not the protocol's." if result["dry_run"] else ""),
    ]
  errors = [
    f"- {name}: {row['what']}: {row['error']}"
    for name in STAGES
    for row in stages.get(name, {}).get("rows", [])
    if "error" in row
  ]
  if errors:
    lines += ["", "## Errors", "", *errors]
  return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
  """The command line's parser (see the module docstring)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, a few minutes")
  parser.add_argument(
    "--out",
    type=Path,
    default=Path(os.environ.get("OUT") or "gpu_check_out"),
    help="folder for gpu_check.json and gpu_check.md (default: $OUT, else ./gpu_check_out)",
  )
  parser.add_argument(
    "--wheels",
    type=Path,
    default=HERE / "wheels",
    help="the install stage's --find-links folder (default benchmarks/wheels)",
  )
  parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
  parser.add_argument(
    "--spaces", nargs="+", choices=["nb201", "darts"], help="default both; dry run: nb201"
  )
  parser.add_argument(
    "--modes", nargs="+", choices=step_time.MODES, help="default all three; dry run: first_order"
  )
  parser.add_argument(
    "--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"]
  )
  parser.add_argument("--batch", type=int, default=0, help="batch per half (default 64; dry 4)")
  parser.add_argument("--channels", type=int, default=0, help="C (default 16; dry 4)")
  parser.add_argument("--steps", type=int, default=0, help="timed steps (default 10; dry 2)")
  parser.add_argument("--seeds", type=int, default=0, help="the seeds stage's K (10; dry run 2)")
  parser.add_argument(
    "--torch-python", help="an interpreter with torch (default: this one if it has torch; none)"
  )
  parser.add_argument("--torch-script", type=Path, default=step_time.TORCH_SCRIPT)
  parser.add_argument(
    "--torch-variants",
    nargs="+",
    choices=["eager", "compile"],
    help="PyTorch runs (default: eager and compile; dry run: eager, torch.compile on the CPU "
    "takes minutes)",
  )
  parser.add_argument("--search-config", help="the search stage's --config (FILE[:variants])")
  parser.add_argument("--search-epochs", type=int, default=1, help="epochs of the search stage")
  parser.add_argument(
    "--search-set",
    action="append",
    metavar="config.FIELD=VALUE",
    help="an override for the search stage (repeatable)",
  )
  parser.add_argument("--budget", action="append", metavar="STAGE=SECONDS", help="repeatable")
  parser.add_argument("--deadline", type=float, default=0, help="seconds for the whole check")
  parser.add_argument("--item-timeout", type=float, default=0, help="seconds per measured item")
  parser.add_argument("--hugetlb", action=argparse.BooleanOptionalAction, default=True)
  return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
  """The command line (see the module docstring); returns the result."""
  args = build_parser().parse_args(argv)
  plan = make_plan(args)
  check = Check(plan, args.out)
  result = check.run(tuple(args.stages))
  print(markdown(result))
  print(f"\nwrote {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.md'}", file=sys.stderr)
  return result


if __name__ == "__main__":
  main()
