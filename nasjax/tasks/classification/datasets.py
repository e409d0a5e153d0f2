"""Classification datasets held in memory: their sources and per-dataset constants.

Sources (``config.data.source``):

* ``tfds`` -- CIFAR-10 / CIFAR-100 / SVHN through tensorflow-datasets, from
  ``config.data.data_dir``. A dataset prepared in the ``array_record`` format
  is read without TensorFlow (images decoded with Pillow); one prepared as
  TFRecords (tfds' default) is read through ``tfds.load``, which needs
  ``tensorflow``.
* ``npz`` -- a ``.npz`` file with ``x_train, y_train, x_test, y_test``
  (uint8 NHWC images, integer labels), e.g. ``cifar10_subset.npz``.

``config.data.downsample`` shrinks the images by an integer factor
(:func:`downsample`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from nasjax.data.files import expand, tfds_records
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


def load_npz(path: str, name: str = "cifar10") -> ImageDataset:
  """Reads ``x_train, y_train, x_test, y_test`` from a ``.npz`` file."""
  file = expand(path)
  if "$" in str(file):
    raise DataNotFoundError(
      f"config.data.path {path!r} names an unset environment variable; set it (e.g. "
      f"NASJAX_DATA_DIR=/path/to/shared/data) or give the .npz file's full path"
    )
  if not file.is_file():
    raise DataNotFoundError(
      f"dataset file {file} not found; set config.data.path to a .npz with "
      f"x_train/y_train/x_test/y_test (or use config.data.source='tfds')"
    )
  try:
    with np.load(file) as d:
      arrays = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}
  except KeyError as e:
    raise DataNotFoundError(
      f"{file} lacks the array {e}; it needs x_train, y_train, x_test and y_test"
    ) from None
  except (OSError, ValueError) as e:
    raise DataNotFoundError(f"cannot read {file} as a .npz file: {e}") from None
  for split in ("train", "test"):
    x = arrays[f"x_{split}"]
    if x.ndim != 4 or x.dtype != np.uint8:
      raise DataNotFoundError(
        f"{file}: x_{split} must be uint8 NHWC images, got {x.dtype} {x.shape}"
      )
  num_classes = NUM_CLASSES.get(name, int(arrays["y_train"].max()) + 1)
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
  """CIFAR-10, CIFAR-100 or SVHN (tfds' ``svhn_cropped``) through tensorflow-datasets, in memory."""
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
  return ImageDataset(name, x_train, y_train, x_test, y_test, NUM_CLASSES[name])


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
  the training and test images alike (:func:`downsample`).
  """
  if cfg.source not in SOURCES:
    raise ConfigError(f"config.data.source must be one of {list(SOURCES)}, got {cfg.source!r}")
  if cfg.source == "npz":
    dataset = load_npz(cfg.path, cfg.name)
  else:
    dataset = load_tfds(cfg.name, cfg.data_dir, cfg.download)
  factor = cfg.get("downsample", 1)
  if factor == 1:
    return dataset
  return dataclasses.replace(
    dataset, x_train=downsample(dataset.x_train, factor), x_test=downsample(dataset.x_test, factor)
  )


def normalize(images: np.ndarray, name: str) -> np.ndarray:
  """uint8 images to float32 with the dataset's per-channel mean and std."""
  mean, std = NORMALIZATION.get(name, NORMALIZATION["cifar10"])
  x = images.astype(np.float32) / 255.0
  return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
