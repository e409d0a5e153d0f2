"""``python -m nasjax.select`` (stage: thin entry)."""

from nasjax.run.select import *  # noqa: F403
from nasjax.run.select import main

if __name__ == "__main__":
  main()
