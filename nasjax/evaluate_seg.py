"""Evaluate segmentation networks: mIoU, per-class IoU, pixel accuracy and cost.

Command line::

  python -m nasjax.evaluate_seg --workdir=/tmp/seg/select/single_stage,/tmp/seg_retrain
  python -m nasjax.evaluate_seg --workdir=runs/seg --test_list=test.txt --eval_mode=sliding

Each ``--workdir`` (comma-separated) is a row of the table; the test data is
each run's own, with ``--test_list``, ``--eval_mode``, ``--eval_scale`` and
``--test_limit`` overriding its settings
(:func:`nasjax.tasks.segmentation.evaluate.evaluate_networks`).
"""

import argparse

from nasjax.boundary import error_boundary
from nasjax.tasks.segmentation.evaluate import OVERRIDES, SegTable, evaluate_networks

__all__ = ["SegTable", "evaluate_networks", "main"]


def main(argv: list[str] | None = None) -> None:
  """``python -m nasjax.evaluate_seg --workdir=RUN[,RUN...] [--output=DIR] [overrides]``."""
  parser = argparse.ArgumentParser(
    prog="python -m nasjax.evaluate_seg", description=__doc__.split("\n\n")[0]
  )
  parser.add_argument(
    "--workdir", required=True, help="run(s) with a saved segmentation network, comma-separated"
  )
  parser.add_argument("--output", default=None, help="folder for seg_table.json / seg_table.md")
  parser.add_argument("--test_list", default=None, help="list file of the test images")
  parser.add_argument("--eval_mode", default=None, choices=("whole", "sliding"))
  parser.add_argument("--eval_scale", default=None, type=float, help="resize test images")
  parser.add_argument("--test_limit", default=None, type=int, help="first N test images")
  parser.add_argument("--verbose", action="store_true", help="on an error, print the traceback")
  args = parser.parse_args(argv)
  with error_boundary("nasjax.evaluate_seg", args.output or args.workdir, args.verbose):
    table = evaluate_networks(
      [w for w in args.workdir.split(",") if w],
      args.output,
      {k: getattr(args, k) for k in OVERRIDES},
    )
  print(table.markdown(), end="", flush=True)
  print(
    f"tables: {table.folder / 'seg_table.md'} and {table.folder / 'seg_table.json'}", flush=True
  )


if __name__ == "__main__":
  main()
