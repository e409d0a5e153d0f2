"""``python -m nasjax.evaluate_seg`` (stage: thin entry)."""

from nasjax.tasks.segmentation.evaluate import *  # noqa: F403
from nasjax.tasks.segmentation.evaluate import main

if __name__ == "__main__":
  main()
