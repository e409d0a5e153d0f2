"""``python -m nasjax.reproduce`` (stage: thin entry)."""

from nasjax.run.reproduce import *  # noqa: F403
from nasjax.run.reproduce import main

if __name__ == "__main__":
  main()
