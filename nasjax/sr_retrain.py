"""``python -m nasjax.sr_retrain`` (stage: thin entry)."""

from nasjax.tasks.super_resolution.retrain import *  # noqa: F403
from nasjax.tasks.super_resolution.retrain import main

if __name__ == "__main__":
  main()
