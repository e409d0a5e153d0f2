"""The dominant Hessian eigenvalue per epoch under each weight/alpha data-split policy.

arXiv 2405.16610 (Fig. 4) compares training the weights and alpha on disjoint
halves of the training set with training both on one shared set, and reads
the effect off the dominant eigenvalue of the Hessian of the validation loss
w.r.t. alpha. This script runs one search per ``config.data.split_policy``
(same seed, same config otherwise), with the Hessian measured at the end of
every epoch (``config.analysis.hessian_every=1``), and prints the curves side
by side, plus each search's final genotype (and its NAS-Bench-201 accuracy).

Run:
  python benchmarks/split_eigenvalue.py                       # runlocal size, CPU minutes
  python benchmarks/split_eigenvalue.py --full --epochs 50    # NB201 protocol (accelerator)
  python benchmarks/split_eigenvalue.py --policies disjoint shared --seeds 0 1 2

The workdirs stay in ``--out`` (plots: ``python -m nasjax.analyze plots``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import search_config
from nasjax.run import search

POLICIES = ("disjoint", "shared", "ratio", "reshuffle")


def _config(policy: str, seed: int, full: bool, epochs: int | None, method: str):
  config = nb201_protocol(search_config())
  if not full:
    config = runlocal(config)
  if epochs:
    config.epochs = epochs
  config.seed = seed
  config.progress_bar = False
  config.data.split_policy = policy
  config.data.split_ratio = 0.8 if policy == "ratio" else 0.5
  config.analysis.hessian_every = 1
  config.analysis.hessian_method = method
  return config


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
  parser.add_argument("--seeds", nargs="+", type=int, default=[0])
  parser.add_argument("--full", action="store_true", help="the full NB201 protocol, not runlocal")
  parser.add_argument("--epochs", type=int, default=None)
  parser.add_argument("--method", default="full", choices=("full", "lanczos", "power"))
  parser.add_argument("--out", default="/tmp/nasjax_split_eigenvalue")
  args = parser.parse_args()

  curves: dict[str, list[list[float]]] = {}
  for policy in args.policies:
    for seed in args.seeds:
      workdir = Path(args.out) / f"{policy}_seed{seed}"
      t0 = time.perf_counter()
      result = search.run(_config(policy, seed, args.full, args.epochs, args.method), workdir)
      records = [json.loads(x) for x in (workdir / "hessian.jsonl").read_text().splitlines()]
      curves.setdefault(policy, []).append([r["max_eig"] for r in records])
      test = (result.benchmark or {}).get("cifar10_test", float("nan"))
      print(
        f"{policy:10s} seed {seed}: {time.perf_counter() - t0:6.1f} s  "
        f"genotype {result.genotype}  nb201 cifar10 test {test:.2f}",
        flush=True,
      )
  print("\ndominant eigenvalue per epoch (mean over seeds)")
  width = max(len(c[0]) for c in curves.values())
  print("policy     " + "".join(f"{'ep ' + str(e + 1):>10s}" for e in range(width)))
  for policy, runs in curves.items():
    mean = np.mean(np.array(runs), axis=0)
    print(f"{policy:10s} " + "".join(f"{v:10.4g}" for v in mean))


if __name__ == "__main__":
  main()
