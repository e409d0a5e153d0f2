"""What every task's data shares: the weight/alpha split, step-indexed batches, data files.

* :mod:`nasjax.data.split` -- the split policies (disjoint halves, a ratio,
  shared, reshuffled per epoch);
* :mod:`nasjax.data.batches` -- each process's rows of a global batch, and
  the prefetching iterator of batches that are pure functions of the step;
* :mod:`nasjax.data.files` -- paths with environment variables, tfds records.

Each task's own data (CIFAR, DIV2K patches, Cityscapes crops) is in its
package under :mod:`nasjax.tasks`.
"""

from nasjax.data.batches import StepBatches, process_rows
from nasjax.data.split import SPLIT_POLICIES, ImageSplit, check_split, split_indices

__all__ = [
  "SPLIT_POLICIES",
  "ImageSplit",
  "StepBatches",
  "check_split",
  "process_rows",
  "split_indices",
]
