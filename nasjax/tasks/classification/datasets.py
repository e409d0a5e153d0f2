"""Classification datasets held in memory: their sources and per-dataset constants.

Sources (``config.data.source``):

* ``tfds`` -- CIFAR-10 / CIFAR-100 / SVHN through tensorflow-datasets, from
  ``config.data.data_dir``. A dataset prepared in the ``array_record`` format
  is read without TensorFlow (images decoded with Pillow); one prepared as
  TFRecords (tfds' default) is read through ``tfds.load``, which needs
  ``tensorflow``.
* ``npz`` -- a ``.npz`` file with ``x_train, y_train, x_test, y_test``
  (uint8 NHWC images, integer labels), e.g. ``cifar10_subset.npz``.

Either source is checked as it is read (:func:`check_arrays`): a damaged
file, a wrong shape or dtype, a label count or range that does not fit, or
training and test images of different sizes stop a run before it trains,
with one sentence naming the file and the fix.

``config.data.downsample`` shrinks the images by an integer factor
(:func:`downsample`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nasjax.data import checks
from nasjax.data.files import expand, tfds_records, unset_message
from nasjax.errors import ConfigError, DataNotFoundError

#: Per-channel mean and standard deviation (of the training images, in [0, 1]).
NORMALIZATION = {
  "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
  "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
  "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "svhn": 10}
#: The tensorflow-datasets name of each dataset whose name differs (SVHN's 32x32 digits).
TFDS_NAMES = {"svhn": "svhn_cropped"}
SOURCES = ("tfds", "npz")


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """A labelled image dataset held in memory (uint8 NHWC images)."""

  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int


#: The arrays of a ``.npz`` source, and how to write a file that has them.
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
NPZ_FIX = (
  "re-create it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...) "
  "(uint8 NHWC images, integer labels)"
)


def check_arrays(arrays: dict[str, np.ndarray], source: str, name: str) -> int:
  """Checks a dataset's arrays as they are loaded; returns its class count.

  Images must be non-empty uint8 ``(N, H, W, 3)`` arrays (what
  :func:`normalize` and the networks take), the training and test images of
  one size, and the labels 1-D integers, one per image, in ``[0, classes)``:
  ``name``'s class count (:data:`NUM_CLASSES`), or for another name the
  largest training label + 1.

  Args:
    arrays: ``x_train, y_train, x_test, y_test`` as read.
    source: the file or dataset they come from, first in every message.
    name: ``config.data.name``.

  Raises:
    DataNotFoundError: one sentence naming ``source``, the array and the fix.
  """
  for split in ("train", "test"):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    checks.check_images(x, source, f"x_{split}")
    checks.check_labels(y, len(x), source, f"y_{split}")
  checks.check_same_size(arrays["x_train"], arrays["x_test"], source)
  if name in NUM_CLASSES:
    num_classes = NUM_CLASSES[name]
    classes_of = (
      f"{name}'s {num_classes} classes; fix the labels, or set config.data.name to the dataset "
      f"they come from"
    )
  else:
    num_classes = int(arrays["y_train"].max()) + 1
    classes_of = (
      f"the {num_classes} classes y_train implies (config.data.name={name!r} is none of "
      f"{sorted(NUM_CLASSES)}); fix the labels"
    )
  for split in ("train", "test"):
    y = arrays[f"y_{split}"]
    checks.check_labels(y, len(y), source, f"y_{split}", num_classes, classes_of)
  return num_classes


def load_npz(path: str, name: str = "cifar10") -> ImageDataset:
  """Reads ``x_train, y_train, x_test, y_test`` from a ``.npz`` file and checks them.

  Args:
    path: the file; ``$VARS`` and ``~`` are expanded.
    name: the dataset's name, which sets the class count (:func:`check_arrays`).

  Raises:
    DataNotFoundError: the file is missing or unreadable, or its arrays are
      not a labelled image dataset (:func:`check_arrays`), in one sentence
      naming the file, the problem and the fix.
  """
  file = expand(path)
  if "$" in str(file):
    raise DataNotFoundError(unset_message("config.data.path", path))
  if not file.is_file():
    raise DataNotFoundError(
      f"dataset file {file} not found; set config.data.path to a .npz with "
      f"x_train/y_train/x_test/y_test (or use config.data.source='tfds')"
    )
  arrays = checks.read_npz(file, NPZ_KEYS, NPZ_FIX)
  num_classes = check_arrays(arrays, str(file), name)
  return ImageDataset(
    name,
    arrays["x_train"],
    arrays["y_train"].astype(np.int32),
    arrays["x_test"],
    arrays["y_test"].astype(np.int32),
    num_classes,
  )


def _tfds_split(name: str, split: str, data_dir: str | None, download: bool):
  records = tfds_records(name, split, data_dir, download)
  return (
    np.stack([r["image"] for r in records]).astype(np.uint8),
    np.array([r["label"] for r in records], np.int32),
  )


def load_tfds(name: str, data_dir: str = "", download: bool = False) -> ImageDataset:
  """CIFAR-10, CIFAR-100 or SVHN (tfds' ``svhn_cropped``) through tensorflow-datasets, in memory.

  Raises:
    ConfigError: ``name`` is not one of :data:`NUM_CLASSES`.
    DataNotFoundError: the dataset is not prepared (and ``download`` is off),
      or its arrays fail :func:`check_arrays`.
  """
  if name not in NUM_CLASSES:
    raise ConfigError(
      f"config.data.name must be one of {sorted(NUM_CLASSES)} for the tfds source, got {name!r}"
    )
  folder = str(expand(data_dir)) if data_dir else None
  tfds_name = TFDS_NAMES.get(name, name)
  try:
    x_train, y_train = _tfds_split(tfds_name, "train", folder, download)
    x_test, y_test = _tfds_split(tfds_name, "test", folder, download)
  except DataNotFoundError:
    raise
  except Exception as e:  # tfds raises assorted errors for a missing or partial dataset
    raise DataNotFoundError(
      f"{tfds_name} is not available from tensorflow-datasets in "
      f"{folder or 'the default data folder'} ({type(e).__name__}: {str(e).splitlines()[0]}); "
      f"prepare it with `tfds build {tfds_name} --data_dir=DIR --file_format=array_record` and set "
      f"config.data.data_dir=DIR, or set config.data.download=True on a connected machine"
    ) from None
  arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
  source = f"tensorflow-datasets' {tfds_name} in {folder or 'the default data folder'}"
  return ImageDataset(name, x_train, y_train, x_test, y_test, check_arrays(arrays, source, name))


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
  """uint8 NHWC images shrunk by an integer ``factor``: the mean of each ``factor**2`` block.

  The box filter of ImageNet16-120-style reduced datasets, rounded back to
  uint8; height and width must be multiples of ``factor``.

  Example:
    >>> x = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)
    >>> downsample(x, 2)[0, :, :, 0]
    array([[ 2,  4],
           [10, 12]], dtype=uint8)
  """
  if factor == 1:
    return images
  n, h, w, c = images.shape
  if h % factor or w % factor:
    raise ConfigError(
      f"config.data.downsample={factor} does not divide the {h}x{w} images; use a divisor"
    )
  blocks = images.reshape(n, h // factor, factor, w // factor, factor, c).astype(np.float32)
  return np.clip(np.round(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)


def load_dataset(cfg: Any) -> ImageDataset:
  """The dataset ``config.data`` describes (see the module docstring).

  ``cfg.downsample`` (an integer factor, 1 or absent = native size) shrinks
  the training and test images alike (:func:`downsample`). The arrays are
  checked as they are read (:func:`check_arrays`).

  Raises:
    DataNotFoundError: the data is missing, unreadable or malformed.
    ConfigError: ``cfg.image_size`` (where the config has it) is not the
      size of the (downsampled) images.
  """
  if cfg.source not in SOURCES:
    raise ConfigError(f"config.data.source must be one of {list(SOURCES)}, got {cfg.source!r}")
  if cfg.source == "npz":
    dataset = load_npz(cfg.path, cfg.name)
  else:
    dataset = load_tfds(cfg.name, cfg.data_dir, cfg.download)
  factor = cfg.get("downsample", 1)
  if factor != 1:
    dataset = dataclasses.replace(
      dataset,
      x_train=downsample(dataset.x_train, factor),
      x_test=downsample(dataset.x_test, factor),
    )
  size = cfg.get("image_size")
  if size is not None and dataset.x_train.shape[1:3] != (size, size):
    raise ConfigError(
      f"config.data.image_size={size} but the images are "
      f"{dataset.x_train.shape[1]}x{dataset.x_train.shape[2]}; set it to their size"
    )
  return dataset


def normalize(images: np.ndarray, name: str) -> np.ndarray:
  """uint8 images to float32 with the dataset's per-channel mean and std."""
  mean, std = NORMALIZATION.get(name, NORMALIZATION["cifar10"])
  x = images.astype(np.float32) / 255.0
  return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
