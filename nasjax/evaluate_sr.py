"""``python -m nasjax.evaluate_sr`` (stage: thin entry)."""

from nasjax.tasks.super_resolution.evaluate import *  # noqa: F403
from nasjax.tasks.super_resolution.evaluate import main

if __name__ == "__main__":
  main()
