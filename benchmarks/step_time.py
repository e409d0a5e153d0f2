"""Search-step time and memory on the NAS-Bench-201 and DARTS supernets.

For each hypergradient mode (first order, exact second order, DARTS' FD
second order), each batch size and, in the DARTS space, each partial-channel
setting, builds the full supernet (NAS-Bench-201: C=16, N=5; DARTS: C=16,
8 cells; CIFAR 32x32 by default), compiles the jitted search step once, and
times ``--steps`` steps after one warm-up step. Each configuration runs in its
own process, so peak memory figures do not leak from one to the next.

In the DARTS space ``--pc 1 4`` compares plain DARTS (K=1) with PC-DARTS
(K=4 partial channels with edge normalisation) at the same batch.

Reported per configuration:
  compile_s       lowering + XLA compilation of the step (once, not in ms/step)
  ms_per_step     median wall time of the timed steps
  xla_peak_mb     XLA's own memory estimate of the compiled step (arguments +
                  outputs + temporaries; what the device must hold)
  device_peak_mb  the device allocator's peak (GPU/TPU; n/a on CPU)
  rss_peak_mb     the process's peak resident memory (host)

Run:
  python benchmarks/step_time.py                      # the NAS-Bench-201 table
  python benchmarks/step_time.py --batch 16 --modes first_order --steps 3
  python benchmarks/step_time.py --space darts --modes first_order --pc 1 4

Inputs are random normal images with random labels: speed does not depend
on pixel values. Set ``--json`` to also print one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

MODES = ("first_order", "second_order_exact", "second_order_fd")


def measure(mode: str, batch: int, pc: int, args: argparse.Namespace) -> dict:
  """Compiles and times one configuration in this process."""
  import jax
  import jax.numpy as jnp

  from nasjax import bilevel
  from nasjax.config import search_config
  from nasjax.protocols import darts_protocol

  config = search_config()
  if args.space == "darts":
    config = darts_protocol(config)
    config.space.layers = args.cells
    config.space.partial_channels = pc
    config.space.edge_normalization = pc > 1
  else:
    config.space.cells_per_stage = args.cells
    config.space.scan_cells = args.scan_cells
  config.hypergradient = mode
  config.batch_size = batch
  config.space.channels = args.channels
  setup = bilevel.make_search_setup(config, steps_per_epoch=1000)
  state = setup.init(jax.random.key(0), (args.image, args.image, 3))
  k1, k2, k3, k4 = jax.random.split(jax.random.key(1), 4)
  shape = (batch, args.image, args.image, 3)
  train = {"image": jax.random.normal(k1, shape), "label": jax.random.randint(k2, (batch,), 0, 10)}
  val = {"image": jax.random.normal(k3, shape), "label": jax.random.randint(k4, (batch,), 0, 10)}

  t0 = time.perf_counter()
  lowered = jax.jit(setup.step, donate_argnums=0).lower(state, train, val)
  compiled = lowered.compile()
  compile_s = time.perf_counter() - t0

  state, metrics = compiled(state, train, val)  # warm-up
  jax.block_until_ready(metrics)
  times = []
  for _ in range(args.steps):
    t = time.perf_counter()
    state, metrics = compiled(state, train, val)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)

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
    "space": args.space,
    "mode": mode,
    "batch": batch,
    "pc": pc,
    "channels": args.channels,
    "cells": args.cells,
    "scan_cells": args.scan_cells,
    "device": jax.local_devices()[0].device_kind,
    "jax": jax.__version__,
    "compile_s": round(compile_s, 1),
    "ms_per_step": round(1e3 * statistics.median(times), 1),
    "ms_min": round(1e3 * min(times), 1),
    "xla_peak_mb": None if xla_peak is None else round(xla_peak / 2**20, 1),
    "device_peak_mb": (
      round(stats["peak_bytes_in_use"] / 2**20, 1) if "peak_bytes_in_use" in stats else None
    ),
    "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "loss_finite": bool(jnp.isfinite(metrics["train/loss"])),
  }


def _fmt(value) -> str:
  return "n/a" if value is None else str(value)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
  parser.add_argument("--batch", nargs="+", type=int, default=[64, 16])
  parser.add_argument("--channels", type=int, default=16)
  parser.add_argument("--space", default="nb201", choices=("nb201", "darts"))
  parser.add_argument(
    "--cells", type=int, default=None, help="cells per stage N (nb201, 5) or cells (darts, 8)"
  )
  parser.add_argument(
    "--pc", nargs="+", type=int, default=[1], help="partial channels K (darts space; 1 = off)"
  )
  parser.add_argument("--image", type=int, default=32)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--scan-cells", action="store_true", help="compile cells with nn.scan")
  parser.add_argument("--json", action="store_true", help="also print JSON lines")
  parser.add_argument("--one", nargs=3, metavar=("MODE", "BATCH", "K"), help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.cells is None:
    args.cells = 8 if args.space == "darts" else 5
  if args.space == "nb201" and args.pc != [1]:
    parser.error("--pc applies to the darts space")

  if args.one:
    print(json.dumps(measure(args.one[0], int(args.one[1]), int(args.one[2]), args)))
    return

  rows = []
  for batch in args.batch:
    for mode, pc in [(m, k) for m in args.modes for k in args.pc]:
      cmd = [
        sys.executable,
        __file__,
        "--one",
        mode,
        str(batch),
        str(pc),
        "--space",
        args.space,
        "--channels",
        str(args.channels),
        "--cells",
        str(args.cells),
        "--image",
        str(args.image),
        "--steps",
        str(args.steps),
      ]
      if args.scan_cells:
        cmd.append("--scan-cells")
      out = subprocess.run(cmd, capture_output=True, text=True, check=False)
      if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"benchmark failed for mode={mode} batch={batch} pc={pc}")
      row = json.loads(out.stdout.strip().splitlines()[-1])
      rows.append(row)
      if args.json:
        print(json.dumps(row), flush=True)

  first = rows[0]
  where = (
    f"DARTS supernet, C={first['channels']}, {first['cells']} cells"
    if args.space == "darts"
    else f"NAS-Bench-201 supernet, C={first['channels']} N={first['cells']}, "
    f"scan_cells={first['scan_cells']}"
  )
  print(
    f"\n{where}, {args.image}x{args.image}, device {first['device']}, jax {first['jax']}, "
    f"median of {args.steps} steps\n"
  )
  header = (
    "mode",
    "batch",
    "pc",
    "compile_s",
    "ms_per_step",
    "xla_peak_mb",
    "device_peak_mb",
    "rss_peak_mb",
  )
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  for row in rows:
    print("| " + " | ".join(_fmt(row[h]) for h in header) + " |")


if __name__ == "__main__":
  main()
