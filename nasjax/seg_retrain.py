"""``python -m nasjax.seg_retrain`` (stage: thin entry)."""

from nasjax.tasks.segmentation.retrain import *  # noqa: F403
from nasjax.tasks.segmentation.retrain import main

if __name__ == "__main__":
  main()
