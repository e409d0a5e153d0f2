"""``python -m nasjax.seg_retrain``: train a decoded trellis network (the two-stage read-out).

Command line::

  python -m nasjax.select --workdir=/tmp/seg --method=argmax
  python -m nasjax.seg_retrain --config=configs/seg/two_stage_retrain.py:runlocal \\
      --genotype=/tmp/seg/select/argmax/selection.json --workdir=/tmp/seg_retrain

(:func:`nasjax.tasks.segmentation.retrain.run`); from a notebook,
``nasjax.seg_retrain.run(config, genotype, workdir)``.
"""

from nasjax import cli
from nasjax.tasks.segmentation.retrain import SegRetrainResult, run

__all__ = ["SegRetrainResult", "main", "run"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the training (see :mod:`nasjax.cli`)."""
  command = cli.Command(
    program="nasjax.seg_retrain",
    run=run,
    example="configs/seg/two_stage_retrain.py:runlocal",
    genotype="the architecture: a trellis genotype file (a segmentation search's genotype.json, "
    "a selection's selection.json, a genotype JSON or string)",
  )
  cli.main(command, argv)


if __name__ == "__main__":
  main()
