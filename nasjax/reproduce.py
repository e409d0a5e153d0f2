"""``python -m nasjax.reproduce``: one command for a results table.

Command line::

  python -m nasjax.reproduce nb201 --methods=darts_1st,sa_darts,beta_darts --seeds=3 \\
      --scale=cpu --workdir=runs/nb201_cpu
  python -m nasjax.reproduce darts --methods=darts_1st,sa_darts --seeds=4 --workdir=runs/darts
  python -m nasjax.reproduce nb201 --methods=all --scale=runlocal --seeds=2 --workdir=/tmp/r

For every method it runs (or resumes) one search of all its seeds, the
method's selection on each seed, and writes the report
(:func:`nasjax.run.reproduce.run`, :mod:`nasjax.run.report`); from a
notebook, ``nasjax.reproduce.run(...)``.
"""

import argparse
from collections.abc import Sequence

from nasjax.boundary import error_boundary
from nasjax.infra.host_memory import reexec_with_huge_pages
from nasjax.run.reproduce import BENCHMARKS, SCALES, run

__all__ = ["BENCHMARKS", "SCALES", "main", "run"]


def main(argv: Sequence[str] | None = None) -> None:
  """``python -m nasjax.reproduce BENCHMARK --methods=... --seeds=K --scale=S --workdir=DIR``."""
  reexec_with_huge_pages()  # before any computation; a no-op once set
  parser = argparse.ArgumentParser(
    prog="python -m nasjax.reproduce",
    description="Run each method's seeds as one program, select, and write a results table.",
    epilog="example: python -m nasjax.reproduce nb201 --methods=darts_1st,sa_darts --seeds=3 "
    "--scale=cpu --workdir=runs/nb201_cpu",
  )
  parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
  parser.add_argument(
    "--methods", required=True, help="comma-separated method names, or 'all' (see BENCHMARKS)"
  )
  parser.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
  parser.add_argument("--first_seed", type=int, default=0)
  parser.add_argument("--scale", choices=SCALES, default="paper")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
  parser.add_argument("--select_set", action="append", default=[], metavar="FIELD=VALUE")
  parser.add_argument("--configs_dir", default=None)
  parser.add_argument("--report_only", action="store_true")
  parser.add_argument("--no_progress_bar", action="store_true")
  parser.add_argument("--verbose", action="store_true", help="on an error, print the traceback")
  args = parser.parse_args(argv)
  with error_boundary("nasjax.reproduce", args.workdir, args.verbose):
    run(
      args.benchmark,
      args.methods,
      args.seeds,
      args.scale,
      args.workdir,
      first_seed=args.first_seed,
      overrides=args.set,
      select_overrides=args.select_set,
      configs_dir=args.configs_dir,
      report_only=args.report_only,
      progress_bar=not args.no_progress_bar,
    )


if __name__ == "__main__":
  main()
