"""``python -m nasjax.search`` (stage: thin entry)."""

from nasjax.run.search import *  # noqa: F403
from nasjax.run.search import main

if __name__ == "__main__":
  main()
