"""``python -m nasjax.analyze``: analyse a search workdir after the fact.

Command line::

  python -m nasjax.analyze hessian --workdir=SEARCH_DIR [--config.method=lanczos]
  python -m nasjax.analyze plots --workdir=SEARCH_DIR

``hessian`` measures the Hessian of every checkpoint the search kept,
``plots`` draws the search's curves and genotype
(:func:`nasjax.analysis.workdir.run`).
"""

from nasjax import cli
from nasjax.analysis.workdir import COMMANDS, checkpoint_hessians, run
from nasjax.config.select import analyze_config

__all__ = ["analyze_config", "checkpoint_hessians", "main", "run"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the analysis (see :mod:`nasjax.cli`)."""
  command = cli.Command(
    program="nasjax.analyze",
    run=run,
    default_config=analyze_config(),
    subcommand=(COMMANDS, "what to compute"),
  )
  cli.main(command, argv)


if __name__ == "__main__":
  main()
