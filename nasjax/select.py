"""``python -m nasjax.select``: read an architecture out of a finished search.

Command line::

  python -m nasjax.select --workdir=SEARCH_DIR --method=argmax
  python -m nasjax.select --workdir=SEARCH_DIR --method=pt --config.pt.proj_interval=5
  python -m nasjax.select --workdir=SEARCH_DIR --method=single_stage \\
      --config.single_stage.both_halves=True
  python -m nasjax.select --config=configs/seg/single_stage.py --workdir=SEG_SEARCH_DIR \\
      --method=single_stage

Settings are ``--config.<field>=...`` overrides of
:func:`nasjax.config.select_config`, or a config file (``--config=FILE``)
returning such a config. The methods (argmax, perturbation-based selection,
the single-stage protocol) are :func:`nasjax.run.select.run`'s; from a
notebook, ``nasjax.select.run(select_config(), workdir, 'pt')``.
"""

import sys

from nasjax import cli
from nasjax.config.select import METHODS, select_config
from nasjax.run.select import SelectionResult, run

__all__ = ["METHODS", "SelectionResult", "main", "run", "select_config"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the selection (see :mod:`nasjax.cli`)."""
  args = sys.argv[1:] if argv is None else argv[1:]
  # A --config=FILE (e.g. configs/seg/single_stage.py) replaces the built-in defaults.
  from_file = any(a.startswith("--config=") or a == "--config" for a in args)
  command = cli.Command(
    program="nasjax.select",
    run=run,
    example="configs/seg/single_stage.py:runlocal",
    default_config=None if from_file else select_config(),
    choice=("method", METHODS, "how to read the architecture out of the search"),
  )
  cli.main(command, argv)


if __name__ == "__main__":
  main()
