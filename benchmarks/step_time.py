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
  compile_s       lowering + XLA compilation of the step (once, not in ms/step)
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
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("first_order", "second_order_exact", "second_order_fd")
TORCH_SCRIPT = Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_darts_reference.py"
HUGETLB = "glibc.malloc.hugetlb=1"
#: (space, batch, nasjax mode, PyTorch order) of the --compare-torch table.
COMPARISON = tuple(
  ("nb201", batch, mode, 1 if mode == "first_order" else 2) for batch in (64, 16) for mode in MODES
) + (("darts", 16, "first_order", 1),)


def _inputs(batch: int, image: int, seeds: int):
  import jax

  shape = (seeds, batch, image, image, 3) if seeds > 1 else (batch, image, image, 3)
  k1, k2, k3, k4 = jax.random.split(jax.random.key(1), 4)
  labels = shape[:-3]
  train = {"image": jax.random.normal(k1, shape), "label": jax.random.randint(k2, labels, 0, 10)}
  val = {"image": jax.random.normal(k3, shape), "label": jax.random.randint(k4, labels, 0, 10)}
  return train, val


def measure(
  space: str, mode: str, batch: int, pc: int, seeds: int, args: argparse.Namespace
) -> dict:
  """Compiles and times one configuration in this process."""
  import jax
  import jax.numpy as jnp

  from nasjax.config.protocols import darts_protocol
  from nasjax.config.search import search_config
  from nasjax.core.setup import make_search_setup
  from nasjax.infra import fused
  from nasjax.infra import seeds as seeds_lib

  config = search_config()
  cells = args.cells or (8 if space == "darts" else 5)
  if space == "darts":
    config = darts_protocol(config)
    config.space.layers = cells
    config.space.partial_channels = pc
    config.space.edge_normalization = pc > 1
  else:
    config.space.cells_per_stage = cells
    config.space.scan_cells = args.scan_cells
  config.hypergradient = mode
  config.batch_size = batch
  config.space.channels = args.channels
  setup = make_search_setup(config, steps_per_epoch=1000)
  image_shape = (args.image, args.image, 3)
  step = setup.step
  if seeds > 1:
    keys = jax.random.split(jax.random.key(0), seeds)
    states = [setup.init(k, image_shape) for k in keys]
    state = fused.stack(states)
    step = seeds_lib.batched_step(setup.step)  # what config.num_seeds runs
  else:
    state = setup.init(jax.random.key(0), image_shape)
  train, val = _inputs(batch, args.image, seeds)

  t0 = time.perf_counter()
  compiled = jax.jit(step, donate_argnums=0).lower(state, train, val).compile()
  compile_s = time.perf_counter() - t0

  state, metrics = compiled(state, train, val)  # warm-up
  jax.block_until_ready(metrics)
  times, cpu = [], []
  for _ in range(args.steps):
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
  return {
    "impl": "nasjax",
    "space": space,
    "mode": mode,
    "batch": batch,
    "pc": pc,
    "seeds": seeds,
    "channels": args.channels,
    "cells": cells,
    "scan_cells": args.scan_cells if space == "nb201" else None,
    "device": jax.local_devices()[0].device_kind,
    "jax": jax.__version__,
    "compile_s": round(compile_s, 1),
    "ms_per_step": round(1e3 * statistics.median(times), 1),
    "ms_min": round(1e3 * min(times), 1),
    "cpu_ms": round(1e3 * statistics.median(cpu), 1),
    "xla_peak_mb": None if xla_peak is None else round(xla_peak / 2**20, 1),
    "device_peak_mb": (
      round(stats["peak_bytes_in_use"] / 2**20, 1) if "peak_bytes_in_use" in stats else None
    ),
    "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "loss_finite": bool(jnp.all(jnp.isfinite(metrics["train/loss"]))),
  }


def _child_env(args: argparse.Namespace) -> dict[str, str]:
  env = dict(os.environ)
  if args.hugetlb:
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    if HUGETLB not in tunables:
      env["GLIBC_TUNABLES"] = ":".join(tunables + [HUGETLB])
  return env


def _run_child(cmd: list[str], what: str, args: argparse.Namespace) -> dict:
  out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_child_env(args))
  if out.returncode != 0:
    print(out.stderr[-2000:], file=sys.stderr)
    raise SystemExit(f"benchmark failed for {what}")
  row = json.loads(out.stdout.strip().splitlines()[-1])
  if args.json:
    print(json.dumps(row), flush=True)
  return row


def run_nasjax(
  space: str, mode: str, batch: int, pc: int, seeds: int, args: argparse.Namespace
) -> dict:
  """Measures one nasjax configuration in a fresh process."""
  cmd = [sys.executable, __file__, "--one", space, mode, str(batch), str(pc), str(seeds)]
  cmd += ["--channels", str(args.channels), "--image", str(args.image), "--steps", str(args.steps)]
  cmd += ["--cells", str(args.cells or 0), "--scan-cells" if args.scan_cells else "--no-scan-cells"]
  what = f"nasjax space={space} mode={mode} batch={batch} pc={pc} seeds={seeds}"
  return _run_child(cmd, what, args)


def run_torch(space: str, batch: int, order: int, args: argparse.Namespace) -> dict:
  """Measures the PyTorch reference step in a fresh process (2 threads)."""
  cmd = [args.torch_python, str(args.torch_script), "--space", space, "--batch", str(batch)]
  cmd += ["--order", str(order), "--threads", "2", "--steps", str(args.steps), "--warmup", "2"]
  cmd += ["--channels", str(args.channels)]
  if args.cells:
    cmd += ["--cells", str(args.cells)]
  return _run_child(cmd, f"torch space={space} batch={batch} order={order}", args)


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


def _fmt(value) -> str:
  return "n/a" if value is None else str(value)


def _table(header: tuple[str, ...], rows: list[dict]) -> None:
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  for row in rows:
    print("| " + " | ".join(_fmt(row.get(h)) for h in header) + " |")


def _ratio(a: float | None, b: float | None) -> float | None:
  return None if a is None or not b else round(a / b, 2)


def compare_torch(args: argparse.Namespace) -> None:
  """Runs the nasjax / PyTorch table, one configuration after the other."""
  rows, torch_rows = [], {}
  for space, batch, mode, order in COMPARISON:
    if args.space_filter and space not in args.space_filter:
      continue
    if (space, batch, order) not in torch_rows:  # PyTorch has one second-order (FD) step
      torch_rows[(space, batch, order)] = run_torch(space, batch, order, args)
    torch_row = torch_rows[(space, batch, order)]
    seed_list = sorted(set(args.seeds) | {1}) if (space, mode) == ("nb201", "first_order") else [1]
    one_seed = None
    for seeds in seed_list:
      row = run_nasjax(space, mode, batch, 1, seeds, args)
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
          "nasjax/torch": _ratio(row["ms_per_step"], torch_row["ms_per_step"] * seeds),
          "vs 1 seed": _ratio(row["ms_per_step"], one_seed) if seeds > 1 else None,
          "compile_s": row["compile_s"],
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
  _table(tuple(rows[0]), rows)


def main() -> None:
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
  parser.add_argument("--one", nargs=5, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.space == "nb201" and args.pc != [1]:
    parser.error("--pc applies to the darts space")
  if any(k < 1 for k in args.seeds):
    parser.error("--seeds must be >= 1")

  if args.one:
    space, mode, batch, pc, seeds = args.one
    print(json.dumps(measure(space, mode, int(batch), int(pc), int(seeds), args)))
    return
  if args.compare_torch:
    _torch_python(args, parser)
    compare_torch(args)
    return

  rows = []
  for batch in args.batch:
    one_seed = {}
    for mode, pc, seeds in [(m, k, s) for m in args.modes for k in args.pc for s in args.seeds]:
      row = run_nasjax(args.space, mode, batch, pc, seeds, args)
      if seeds == 1:
        one_seed[(mode, pc)] = row["ms_per_step"]
      row["vs_1_seed"] = _ratio(row["ms_per_step"], one_seed.get((mode, pc))) if seeds > 1 else None
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
    f"median of {args.steps} steps, hugetlb malloc={'on' if args.hugetlb else 'off'}\n"
  )
  header = ("mode", "batch", "pc", "seeds", "compile_s", "ms_per_step", "cpu_ms", "vs_1_seed")
  _table(header + ("xla_peak_mb", "device_peak_mb", "rss_peak_mb"), rows)


if __name__ == "__main__":
  main()
