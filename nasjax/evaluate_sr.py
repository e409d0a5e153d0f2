"""Evaluate super-resolution networks on test sets: the PSNR / SSIM table of SR papers.

Command line::

  python -m nasjax.evaluate_sr --workdir=/tmp/sr_retrain \\
      --sets='$NASJAX_DATA_DIR/sr/Set5,$NASJAX_DATA_DIR/sr/Set14'
  python -m nasjax.evaluate_sr --workdir=runs/imdn,runs/imdn_sa --sets=data/Set5,data/B100 \\
      --output=runs/table

Each ``--workdir`` (comma-separated) is a row of the table, each ``--sets``
folder of HR images a column group
(:func:`nasjax.tasks.super_resolution.evaluate.evaluate_networks`).
"""

import argparse

from nasjax.boundary import error_boundary
from nasjax.tasks.super_resolution.evaluate import SRTable, evaluate_networks

__all__ = ["SRTable", "evaluate_networks", "main"]


def main(argv: list[str] | None = None) -> None:
  """``python -m nasjax.evaluate_sr --workdir=RUN[,RUN...] --sets=DIR[,DIR...] [--output=DIR]``."""
  parser = argparse.ArgumentParser(
    prog="python -m nasjax.evaluate_sr", description=__doc__.split("\n\n")[0]
  )
  parser.add_argument(
    "--workdir", required=True, help="run(s) with a saved SR network, comma-separated"
  )
  parser.add_argument(
    "--sets", required=True, help="folders of HR PNG test images, comma-separated"
  )
  parser.add_argument("--output", default=None, help="folder for sr_table.json / sr_table.md")
  parser.add_argument("--verbose", action="store_true", help="on an error, print the traceback")
  args = parser.parse_args(argv)
  with error_boundary("nasjax.evaluate_sr", args.output or args.workdir, args.verbose):
    table = evaluate_networks(
      [w for w in args.workdir.split(",") if w],
      [s for s in args.sets.split(",") if s],
      args.output,
    )
  print(table.markdown(), end="", flush=True)
  print(f"tables: {table.folder / 'sr_table.md'} and {table.folder / 'sr_table.json'}", flush=True)


if __name__ == "__main__":
  main()
