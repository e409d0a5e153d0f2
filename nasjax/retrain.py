"""``python -m nasjax.retrain`` (stage: thin entry)."""

from nasjax.tasks.classification.retrain import *  # noqa: F403
from nasjax.tasks.classification.retrain import main

if __name__ == "__main__":
  main()
