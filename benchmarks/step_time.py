"""Search-step time and memory on the NAS-Bench-201 and DARTS supernets.

For each hypergradient mode (first order, exact second order, DARTS' FD
second order), each batch size and, in the DARTS space, each partial-channel
setting, builds the full supernet (NAS-Bench-201: C=16, N=5; DARTS: C=16,
8 cells; CIFAR 32x32 by default), compiles the jitted search step once, and
times ``--steps`` steps after one warm-up step. Each configuration runs in its
own process, so peak memory figures do not leak from one to the next.

In the DARTS space ``--pc 1 4`` compares plain DARTS (K=1) with PC-DARTS
(K=4 partial channels with edge normalisation) at the same batch.

``--seeds 1 4`` also times 4 independent searches as one program over a
stacked state and stacked batches (``nasjax.infra.seeds.batched_step``, what
``config.num_seeds`` runs: vmapped on GPU/TPU, looped on the CPU), reported
with its cost relative to one seed.

``--compare-torch`` times, one after the other on the same machine, nasjax's
step and a plain PyTorch implementation of the same supernets and DARTS step
(``../shared/bench/torch_darts_reference.py`` beside the repository, or
``--torch-script PATH``; run with ``--torch-python``,
an interpreter with a CPU build of torch; torch is not a nasjax dependency).
The table covers NAS-Bench-201 (C=16, N=5) at batch 64 and 16, first order
and second order (nasjax's exact and FD modes against PyTorch's FD), and the
DARTS space (C=16, 8 cells) first order at batch 16.

Reported per configuration:
  compile_s       nasjax: lowering + XLA compilation of the step (once, not in
                  ms/step); PyTorch: its first step minus its median step
                  (``first_step_s - ms_per_step``: eager mode's first-call
                  set-up, or torch.compile's tracing and compilation), the
                  nearest figure the reference reports
  precision       nasjax's arithmetic dtype (``--precision``; ``auto`` is
                  bfloat16 on GPU/TPU, float32 on the CPU)
  ms_per_step     median wall time of the timed steps
  cpu_ms          median process CPU time of a step (all threads)
  xla_peak_mb     XLA's own memory estimate of the compiled step (arguments +
                  outputs + temporaries; what the device must hold)
  device_peak_mb  the device allocator's peak (GPU/TPU; n/a on CPU)
  rss_peak_mb     the process's peak resident memory (host)

By default the child processes (nasjax and PyTorch alike) run with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``: XLA's CPU runtime allocates its
buffers afresh at every call, and with 4 KiB pages the kernel's page faults
on them cost a large share of a step (and serialise the threads);
transparent huge pages remove most of them. ``--no-hugetlb`` turns it off.

Run:
  python benchmarks/step_time.py                      # the NAS-Bench-201 table
  python benchmarks/step_time.py --batch 16 --modes first_order --steps 3
  python benchmarks/step_time.py --space darts --modes first_order --pc 1 4
  python benchmarks/step_time.py --modes first_order --seeds 1 4
  python benchmarks/step_time.py --compare-torch --torch-python /path/to/venv/bin/python

Inputs are random normal images with random labels: speed does not depend
on pixel values. Set ``--json`` to also print one JSON line per configuration.

The measuring functions (:class:`StepSpec`, :func:`measure`,
:func:`run_nasjax`, :class:`TorchSpec`, :func:`run_torch`,
:func:`markdown_table`) are importable: ``benchmarks/gpu_check.py`` builds
its GPU tables from them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("first_order", "second_order_exact", "second_order_fd")
PRECISIONS = ("auto", "float32", "bfloat16")
TORCH_SCRIPT = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_darts_reference.py"
HUGETLB = "glibc.malloc.hugetlb=1"
#: (space, batch, nasjax mode, PyTorch order) of the --compare-torch table.
COMPARISON = tuple(
  ("nb201", batch, mode, 1 if mode == "first_order" else 2) for batch in (64, 16) for mode in MODES
) + (("darts", 16, "first_order", 1),)
#: What a PyTorch row's ``compile_s`` is: the reference reports no compile time of its own.
TORCH_COMPILE_S = "first step minus median step"


class BenchmarkError(RuntimeError):
  """A measured child process failed or timed out; the message is one line."""


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """One nasjax search-step configuration to compile and time.

  Attributes:
    space: ``nb201`` (C, N cells per stage) or ``darts`` (C, ``cells`` cells).
    mode: the hypergradient, one of :data:`MODES`.
    batch: images per half (weights and alpha batches alike).
    pc: partial channels K (darts space; 1 = off).
    seeds: K seeds as one program (``nasjax.infra.seeds.batched_step``).
    channels: C, the first stage's channels.
    cells: cells per stage (nb201) or cells (darts); 0 = the space's default (5 or 8).
    image: image side (square, 3 channels).
    steps: timed steps after one warm-up step.
    scan_cells: NB201 cells compiled once with ``nn.scan``.
    precision: ``auto``, ``float32`` or ``bfloat16`` (``config.precision``).
    cache_dir: a persistent compilation cache for this measurement ("" = none).
  """

  space: str = "nb201"
  mode: str = "first_order"
  batch: int = 64
  pc: int = 1
  seeds: int = 1
  channels: int = 16
  cells: int = 0
  image: int = 32
  steps: int = 5
  scan_cells: bool = True
  precision: str = "auto"
  cache_dir: str = ""

  def describe(self) -> str:
    """A short label, e.g. ``nasjax nb201 first_order batch=64 float32``."""
    extra = f" pc={self.pc}" if self.pc != 1 else ""
    extra += f" seeds={self.seeds}" if self.seeds != 1 else ""
    return f"nasjax {self.space} {self.mode} batch={self.batch} {self.precision}{extra}"


@dataclasses.dataclass(frozen=True)
class TorchSpec:
  """One run of the PyTorch reference (``torch_darts_reference.py``).

  Attributes:
    space: ``nb201`` or ``darts``.
    batch: images per batch.
    order: 1 (first order) or 2 (DARTS' FD second order).
    channels: C.
    cells: N per stage (nb201) or cells (darts); 0 = the reference's default.
    steps: timed steps.
    warmup: untimed steps before them (the first one holds any compilation).
    threads: torch's intra-op threads.
    device: ``cpu`` or ``cuda``.
    compile: wrap the supernet in ``torch.compile``.
    bf16: autocast the forward passes to bfloat16.
  """

  space: str = "nb201"
  batch: int = 64
  order: int = 1
  channels: int = 16
  cells: int = 0
  steps: int = 5
  warmup: int = 2
  threads: int = 2
  device: str = "cpu"
  compile: bool = False
  bf16: bool = False

  def describe(self) -> str:
    """A short label, e.g. ``torch nb201 order=1 batch=64 cuda compile bf16``."""
    flags = " compile" if self.compile else " eager"
    flags += " bf16" if self.bf16 else " f32"
    return f"torch {self.space} order={self.order} batch={self.batch} {self.device}{flags}"


def _inputs(batch: int, image: int, seeds: int):
  import jax

  shape = (seeds, batch, image, image, 3) if seeds > 1 else (batch, image, image, 3)
  k1, k2, k3, k4 = jax.random.split(jax.random.key(1), 4)
  labels = shape[:-3]
  train = {"image": jax.random.normal(k1, shape), "label": jax.random.randint(k2, labels, 0, 10)}
  val = {"image": jax.random.normal(k3, shape), "label": jax.random.randint(k4, labels, 0, 10)}
  return train, val


def measure(spec: StepSpec) -> dict[str, Any]:
  """Compiles and times one configuration in this process.

  Args:
    spec: what to build and time.

  Returns:
    One row: the spec's fields, ``device``, ``jax``, ``precision`` (the
    resolved dtype), ``compile_s``, ``first_call_s`` (the warm-up step),
    ``ms_per_step``, ``ms_min``, ``cpu_ms``, ``xla_peak_mb``,
    ``device_peak_mb``, ``rss_peak_mb`` and ``loss_finite``.
  """
  import jax
  import jax.numpy as jnp

  from nasjax.config.protocols import darts_protocol
  from nasjax.config.search import search_config
  from nasjax.core.setup import compute_dtype, make_search_setup
  from nasjax.infra import fused
  from nasjax.infra import seeds as seeds_lib
  from nasjax.infra.compilation import enable_compilation_cache

  if spec.cache_dir:
    enable_compilation_cache(spec.cache_dir, min_compile_seconds=0.0)
  config = search_config()
  cells = spec.cells or (8 if spec.space == "darts" else 5)
  if spec.space == "darts":
    config = darts_protocol(config)
    config.space.layers = cells
    config.space.partial_channels = spec.pc
    config.space.edge_normalization = spec.pc > 1
  else:
    config.space.cells_per_stage = cells
    config.space.scan_cells = spec.scan_cells
  config.hypergradient = spec.mode
  config.batch_size = spec.batch
  config.space.channels = spec.channels
  config.precision = spec.precision
  setup = make_search_setup(config, steps_per_epoch=1000)
  image_shape = (spec.image, spec.image, 3)
  step = setup.step
  if spec.seeds > 1:
    keys = jax.random.split(jax.random.key(0), spec.seeds)
    state = fused.stack([setup.init(k, image_shape) for k in keys])
    step = seeds_lib.batched_step(setup.step)  # what config.num_seeds runs
  else:
    state = setup.init(jax.random.key(0), image_shape)
  train, val = _inputs(spec.batch, spec.image, spec.seeds)

  t0 = time.perf_counter()
  compiled = jax.jit(step, donate_argnums=0).lower(state, train, val).compile()
  compile_s = time.perf_counter() - t0

  t0 = time.perf_counter()
  state, metrics = compiled(state, train, val)  # warm-up
  jax.block_until_ready(metrics)
  first_call_s = time.perf_counter() - t0
  times, cpu = [], []
  for _ in range(spec.steps):
    t, c = time.perf_counter(), time.process_time()
    state, metrics = compiled(state, train, val)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)

  analysis = compiled.memory_analysis()
  xla_peak = None
  if analysis is not None:
    xla_peak = (
      analysis.argument_size_in_bytes
      + analysis.output_size_in_bytes
      + analysis.temp_size_in_bytes
      - analysis.alias_size_in_bytes
    )
  stats = jax.local_devices()[0].memory_stats() or {}
  dtype = compute_dtype(spec.precision)
  return {
    "impl": "nasjax",
    **dataclasses.asdict(spec),
    "cells": cells,
    "scan_cells": spec.scan_cells if spec.space == "nb201" else None,
    "precision": "float32" if dtype is None else jnp.dtype(dtype).name,
    "device": jax.local_devices()[0].device_kind,
    "backend": jax.default_backend(),
    "jax": jax.__version__,
    "compile_s": round(compile_s, 2),
    "first_call_s": round(first_call_s, 3),
    "ms_per_step": round(1e3 * statistics.median(times), 2),
    "ms_min": round(1e3 * min(times), 2),
    "cpu_ms": round(1e3 * statistics.median(cpu), 1),
    "xla_peak_mb": None if xla_peak is None else round(xla_peak / 2**20, 1),
    "device_peak_mb": (
      round(stats["peak_bytes_in_use"] / 2**20, 1) if "peak_bytes_in_use" in stats else None
    ),
    "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "loss_finite": bool(jnp.all(jnp.isfinite(metrics["train/loss"]))),
  }


def child_env(hugetlb: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
  """This process's environment for a measured child, with huge-page malloc if asked.

  Args:
    hugetlb: add ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``.
    extra: variables to set on top.
  """
  env = dict(os.environ)
  if hugetlb:
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    if HUGETLB not in tunables:
      env["GLIBC_TUNABLES"] = ":".join(tunables + [HUGETLB])
  env.update(extra or {})
  return env


def one_line(text: str, limit: int = 300) -> str:
  """The last non-empty line of ``text`` (an error's own line), at most ``limit`` characters."""
  lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
  line = lines[-1] if lines else "no output"
  return line if len(line) <= limit else line[: limit - 3] + "..."


def run_child(
  cmd: list[str],
  what: str,
  *,
  hugetlb: bool = True,
  timeout: float | None = None,
  env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
  """Runs a measuring child process and returns the JSON row of its last output line.

  Raises:
    BenchmarkError: if it fails, times out or prints no JSON; the message is
      one line (the child's last line of error output).
  """
  try:
    out = subprocess.run(
      cmd,
      capture_output=True,
      text=True,
      check=False,
      env=child_env(hugetlb, env_extra),
      timeout=timeout,
    )
  except subprocess.TimeoutExpired:
    raise BenchmarkError(f"{what}: timed out after {timeout:.0f} s") from None
  if out.returncode != 0:
    raise BenchmarkError(f"{what}: exit {out.returncode}: {one_line(out.stderr or out.stdout)}")
  try:
    return json.loads(out.stdout.strip().splitlines()[-1])
  except (IndexError, json.JSONDecodeError):
    raise BenchmarkError(f"{what}: no JSON row in its output: {one_line(out.stdout)}") from None


def run_nasjax(
  spec: StepSpec,
  *,
  hugetlb: bool = True,
  timeout: float | None = None,
  env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
  """Measures one nasjax configuration in a fresh process (this interpreter).

  Raises:
    BenchmarkError: as :func:`run_child`.
  """
  cmd = [
    sys.executable,
    str(Path(__file__).resolve()),
    "--one",
    json.dumps(dataclasses.asdict(spec)),
  ]
  return run_child(cmd, spec.describe(), hugetlb=hugetlb, timeout=timeout, env_extra=env_extra)


def torch_compile_s(row: dict[str, Any]) -> float | None:
  """A PyTorch row's compile seconds: its first step minus its median step (see module doc)."""
  first, ms = row.get("first_step_s"), row.get("ms_per_step")
  if first is None or ms is None:
    return None
  return round(max(first - ms / 1e3, 0.0), 2)


def run_torch(
  python: str,
  script: str | os.PathLike,
  spec: TorchSpec,
  *,
  hugetlb: bool = True,
  timeout: float | None = None,
) -> dict[str, Any]:
  """Measures the PyTorch reference step in a fresh process.

  Args:
    python: an interpreter that imports torch.
    script: the reference, ``torch_darts_reference.py``.
    spec: what to run.
    hugetlb: run it with huge-page malloc.
    timeout: seconds before it is stopped.

  Returns:
    The reference's JSON row plus ``compile_s`` (:func:`torch_compile_s`) and
    ``compile_s_is`` (what that figure is).

  Raises:
    BenchmarkError: as :func:`run_child`.
  """
  cmd = [python, str(script), "--space", spec.space, "--batch", str(spec.batch)]
  cmd += ["--order", str(spec.order), "--threads", str(spec.threads), "--steps", str(spec.steps)]
  cmd += ["--warmup", str(spec.warmup), "--channels", str(spec.channels)]
  cmd += ["--device", spec.device]
  if spec.cells:
    cmd += ["--cells", str(spec.cells)]
  if spec.compile:
    cmd.append("--compile")
  if spec.bf16:
    cmd.append("--bf16")
  row = run_child(cmd, spec.describe(), hugetlb=hugetlb, timeout=timeout)
  row["compile_s"] = torch_compile_s(row)
  row["compile_s_is"] = TORCH_COMPILE_S
  return row


def _torch_python(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
  """Resolves ``--torch-python`` (default: this interpreter, if it has torch)."""
  if args.torch_python is None:
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, check=False)
    if probe.returncode != 0:
      parser.error(
        "torch is not importable here: install torch==2.13.0 (CPU) in a benchmark "
        "environment and pass --torch-python /path/to/that/python"
      )
    args.torch_python = sys.executable
  if not Path(args.torch_script).is_file():
    parser.error(f"PyTorch reference {args.torch_script} not found; pass --torch-script PATH")


def fmt(value: Any) -> str:
  """A table cell: ``n/a`` for None."""
  return "n/a" if value is None else str(value)


def markdown_table(header: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> str:
  """A markdown table of ``rows`` (dicts) under ``header`` (their keys), one line per row."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(fmt(row.get(h)) for h in header) + " |" for row in rows]
  return "\n".join(lines)


def ratio(a: float | None, b: float | None) -> float | None:
  """``a / b`` to 2 decimals, None if either is missing or ``b`` is 0."""
  return None if a is None or not b else round(a / b, 2)


def _spec(args: argparse.Namespace, space: str, mode: str, batch: int, pc: int, seeds: int):
  return StepSpec(
    space=space,
    mode=mode,
    batch=batch,
    pc=pc,
    seeds=seeds,
    channels=args.channels,
    cells=args.cells,
    image=args.image,
    steps=args.steps,
    scan_cells=args.scan_cells,
    precision=args.precision,
  )


def _nasjax_row(args: argparse.Namespace, spec: StepSpec) -> dict[str, Any]:
  try:
    row = run_nasjax(spec, hugetlb=args.hugetlb)
  except BenchmarkError as e:
    raise SystemExit(f"benchmark failed: {e}") from None
  if args.json:
    print(json.dumps(row), flush=True)
  return row


def _torch_row(args: argparse.Namespace, space: str, batch: int, order: int) -> dict[str, Any]:
  spec = TorchSpec(
    space=space,
    batch=batch,
    order=order,
    channels=args.channels,
    cells=args.cells,
    steps=args.steps,
    warmup=2,
    threads=2,
  )
  try:
    row = run_torch(args.torch_python, args.torch_script, spec, hugetlb=args.hugetlb)
  except BenchmarkError as e:
    raise SystemExit(f"benchmark failed: {e}") from None
  if args.json:
    print(json.dumps(row), flush=True)
  return row


def compare_torch(args: argparse.Namespace) -> None:
  """Runs the nasjax / PyTorch table, one configuration after the other."""
  rows, torch_rows = [], {}
  for space, batch, mode, order in COMPARISON:
    if args.space_filter and space not in args.space_filter:
      continue
    if (space, batch, order) not in torch_rows:  # PyTorch has one second-order (FD) step
      torch_rows[(space, batch, order)] = _torch_row(args, space, batch, order)
    torch_row = torch_rows[(space, batch, order)]
    seed_list = sorted(set(args.seeds) | {1}) if (space, mode) == ("nb201", "first_order") else [1]
    one_seed = None
    for seeds in seed_list:
      row = _nasjax_row(args, _spec(args, space, mode, batch, 1, seeds))
      one_seed = row["ms_per_step"] if seeds == 1 else one_seed
      rows.append(
        {
          "space": space,
          "batch": batch,
          "nasjax mode": mode,
          "seeds": seeds,
          "torch order": f"{order} ({'FD' if order == 2 else 'first'})",
          "nasjax ms": row["ms_per_step"],
          "torch ms": torch_row["ms_per_step"] if seeds == 1 else None,
          "nasjax/torch": ratio(row["ms_per_step"], torch_row["ms_per_step"] * seeds),
          "vs 1 seed": ratio(row["ms_per_step"], one_seed) if seeds > 1 else None,
          "nasjax compile_s": row["compile_s"],
          "torch compile_s*": torch_row["compile_s"],
          "nasjax xla_peak_mb": row["xla_peak_mb"],
          "nasjax rss_mb": row["rss_peak_mb"],
          "torch rss_mb": torch_row["peak_rss_mb"] if seeds == 1 else None,
        }
      )
      print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
  print(
    f"\nnasjax vs PyTorch {torch_row.get('torch')} (CPU, 2 threads), C={args.channels}, "
    f"{args.image}x{args.image}, median of {args.steps} steps, NB201 scan_cells="
    f"{args.scan_cells}, hugetlb malloc={'on' if args.hugetlb else 'off'}; "
    "with K seeds nasjax/torch compares against K PyTorch steps\n"
  )
  print(markdown_table(tuple(rows[0]), rows))
  print(
    f"\n* torch compile_s: {TORCH_COMPILE_S} (the reference times no compile of its own); "
    "nasjax compile_s: lowering + XLA compilation of the step"
  )


def main() -> None:
  """The command line (see the module docstring)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
  parser.add_argument("--batch", nargs="+", type=int, default=[64, 16])
  parser.add_argument("--channels", type=int, default=16)
  parser.add_argument("--space", default="nb201", choices=("nb201", "darts"))
  parser.add_argument(
    "--cells", type=int, default=0, help="cells per stage N (nb201, 5) or cells (darts, 8)"
  )
  parser.add_argument(
    "--pc", nargs="+", type=int, default=[1], help="partial channels K (darts space; 1 = off)"
  )
  parser.add_argument(
    "--seeds",
    nargs="+",
    type=int,
    default=[1],
    help="seeds K as one program (nasjax.infra.seeds.batched_step)",
  )
  parser.add_argument("--image", type=int, default=32)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument(
    "--precision",
    default="auto",
    choices=PRECISIONS,
    help="nasjax's arithmetic dtype (config.precision; auto = bfloat16 on GPU/TPU, float32 on CPU)",
  )
  parser.add_argument(
    "--scan-cells",
    action=argparse.BooleanOptionalAction,
    default=True,
    help="compile NB201 cells once with nn.scan (config.space.scan_cells, default on)",
  )
  parser.add_argument(
    "--hugetlb",
    action=argparse.BooleanOptionalAction,
    default=True,
    help=f"run the measured processes with GLIBC_TUNABLES={HUGETLB}",
  )
  parser.add_argument("--compare-torch", action="store_true", help="the nasjax / PyTorch table")
  parser.add_argument("--torch-python", default=None, help="an interpreter that imports torch")
  parser.add_argument("--torch-script", default=str(TORCH_SCRIPT), help="the PyTorch reference")
  parser.add_argument(
    "--only", dest="space_filter", nargs="+", default=None, help="--compare-torch: these spaces"
  )
  parser.add_argument("--json", action="store_true", help="also print JSON lines")
  parser.add_argument("--one", help=argparse.SUPPRESS)  # a StepSpec as JSON: measure it here
  args = parser.parse_args()
  if args.one:
    print(json.dumps(measure(StepSpec(**json.loads(args.one)))))
    return
  if args.space == "nb201" and args.pc != [1]:
    parser.error("--pc applies to the darts space")
  if any(k < 1 for k in args.seeds):
    parser.error("--seeds must be >= 1")
  if args.compare_torch:
    _torch_python(args, parser)
    compare_torch(args)
    return

  rows = []
  for batch in args.batch:
    one_seed = {}
    for mode, pc, seeds in [(m, k, s) for m in args.modes for k in args.pc for s in args.seeds]:
      row = _nasjax_row(args, _spec(args, args.space, mode, batch, pc, seeds))
      if seeds == 1:
        one_seed[(mode, pc)] = row["ms_per_step"]
      row["vs_1_seed"] = ratio(row["ms_per_step"], one_seed.get((mode, pc))) if seeds > 1 else None
      rows.append(row)

  first = rows[0]
  where = (
    f"DARTS supernet, C={first['channels']}, {first['cells']} cells"
    if args.space == "darts"
    else f"NAS-Bench-201 supernet, C={first['channels']} N={first['cells']}, "
    f"scan_cells={first['scan_cells']}"
  )
  print(
    f"\n{where}, {args.image}x{args.image}, device {first['device']}, jax {first['jax']}, "
    f"precision {first['precision']}, median of {args.steps} steps, "
    f"hugetlb malloc={'on' if args.hugetlb else 'off'}\n"
  )
  header = ("mode", "batch", "pc", "seeds", "compile_s", "ms_per_step", "cpu_ms", "vs_1_seed")
  print(markdown_table(header + ("xla_peak_mb", "device_peak_mb", "rss_peak_mb"), rows))


if __name__ == "__main__":
  main()
