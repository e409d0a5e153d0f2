"""``python -m nasjax.search``: run (or resume) a search.

Command line::

  python -m nasjax.search --config=configs/nb201/darts_1st.py:runlocal --workdir=/tmp/darts
  python -m nasjax.search --config=configs/nb201/darts_2nd.py --workdir=runs/d2 \\
      --config.seed=1 --config.optimizer.alpha.lr=6e-4

Re-running the same command with the same ``--workdir`` resumes from the
latest checkpoint; any config field can be overridden with
``--config.<field>=<value>``. From a notebook, ``nasjax.search.run(config,
workdir)`` does the same (:func:`nasjax.run.search.run`).
"""

from nasjax import cli
from nasjax.run.search import MultiSeedResult, SearchResult, run

__all__ = ["MultiSeedResult", "SearchResult", "main", "run"]


def main(argv: list[str] | None = None) -> None:
  """Parses the flags and runs the search (see :mod:`nasjax.cli`)."""
  cli.main(cli.Command(program="nasjax.search", run=run), argv)


if __name__ == "__main__":
  main()
