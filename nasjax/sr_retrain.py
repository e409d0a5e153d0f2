"""``python -m nasjax.sr_retrain``: train a searched super-resolution network from scratch.

Command line::

  python -m nasjax.sr_retrain --config=configs/sr/retrain.py:runlocal \\
      --genotype=/tmp/sr_imdn_sa/genotype.json --workdir=/tmp/sr_retrain
  python -m nasjax.sr_retrain --config=configs/sr/retrain.py --genotype=IMDN --workdir=runs/imdn

IMDN's protocol (:func:`nasjax.tasks.super_resolution.retrain.run`); from a
notebook, ``nasjax.sr_retrain.run(config, genotype, workdir)``.
"""

from nasjax import cli
from nasjax.tasks.super_resolution.retrain import SRRetrainResult, run

__all__ = ["SRRetrainResult", "main", "run"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the training (see :mod:`nasjax.cli`)."""
  command = cli.Command(
    program="nasjax.sr_retrain",
    run=run,
    example="configs/sr/retrain.py:runlocal",
    genotype="the architecture: a genotype file of the config's SR space (a search's "
    "genotype.json, a selection's selection.json, a genotype JSON or string) or IMDN",
  )
  cli.main(command, argv)


if __name__ == "__main__":
  main()
