"""``python -m nasjax.retrain``: retrain a derived DARTS network from scratch.

Command line::

  python -m nasjax.retrain --config=configs/retrain/cifar10.py:runlocal \\
      --genotype=DARTS_V2 --workdir=/tmp/retrain
  python -m nasjax.retrain --config=configs/retrain/cifar10.py \\
      --genotype=runs/darts/genotype.json --workdir=runs/darts_eval

``--genotype`` is a genotype file or the name of a published genotype
(``DARTS_V1``, ``DARTS_V2``, ``PC_DARTS``); re-running the same command
resumes. From a notebook, ``nasjax.retrain.run(config, genotype, workdir)``
(:func:`nasjax.tasks.classification.retrain.run`).
"""

from nasjax import cli
from nasjax.tasks.classification.retrain import RetrainResult, run

__all__ = ["RetrainResult", "main", "run"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the retraining (see :mod:`nasjax.cli`)."""
  command = cli.Command(
    program="nasjax.retrain",
    run=run,
    example="configs/retrain/cifar10.py:runlocal",
    genotype=cli.GENOTYPE_HELP,
  )
  cli.main(command, argv)


if __name__ == "__main__":
  main()
