"""``python -m nasjax.analyze`` (stage: thin entry)."""

from nasjax.analysis.workdir import *  # noqa: F403
from nasjax.analysis.workdir import main

if __name__ == "__main__":
  main()
