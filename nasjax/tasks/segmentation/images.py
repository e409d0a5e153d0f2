"""Segmentation image sets and image operations: loading, resizing, training crops.

A :class:`SegImages` holds uint8 ``(H, W, 3)`` images and uint8 ``(H, W)``
labels in *train ids* ``0 .. num_classes-1``, with
:data:`~nasjax.tasks.segmentation.losses.IGNORE_INDEX` (255) for pixels nothing is scored on.

* :func:`load_seg_folder` reads a list file of ``image label`` lines (paths
  relative to a root folder, as CamVid's ``train.txt``); label PNGs hold
  train ids (mode ``L`` or ``P``), and ``void_label`` marks the ignored id
  (CamVid's 11). For Cityscapes as a folder, list the ``*_labelTrainIds.png``
  files written by ``cityscapesscripts``.
* :func:`load_cityscapes` reads tensorflow-datasets'
  ``cityscapes/semantic_segmentation`` (features ``image_left``,
  ``segmentation_label``), which needs Cityscapes' zips downloaded by hand;
  its labelIds become train ids through :data:`CITYSCAPES_TRAIN_IDS`. Images
  are decoded on access (2975 training images do not fit comfortably in memory).

Training crops (:func:`random_scale_crop_flip`) rescale, pad, crop and
mirror an image and its label alike. Resizing follows one pixel-centre
convention: output pixel ``i`` of ``n`` samples the source at
``(i + 0.5) * h / n - 0.5``. Images are resized
bilinearly (Pillow, antialiased when shrinking); labels by nearest neighbour,
``label[floor((i + 0.5) * h / n)]``, so no id is ever blended.

Example:
  >>> import numpy as np
  >>> resize_label(np.array([[0, 1], [2, 3]], np.uint8), (4, 4))[1:3, :].tolist()
  [[0, 0, 1, 1], [2, 2, 3, 3]]
  >>> int(CITYSCAPES_TRAIN_IDS[7]), int(CITYSCAPES_TRAIN_IDS[33]), int(CITYSCAPES_TRAIN_IDS[0])
  (0, 18, 255)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.data import checks
from nasjax.data.files import expand_path, tfds_records
from nasjax.data.pairs import read_pair_list
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.segmentation.losses import IGNORE_INDEX

#: ImageNet's per-channel mean and standard deviation (of [0, 1] pixels), used for every set.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The mean pixel as uint8 (what padding fills images with: about 0 once normalised).
MEAN_PIXEL = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)

#: tensorflow-datasets' Cityscapes semantic-segmentation config.
CITYSCAPES_TFDS = "cityscapes/semantic_segmentation"
#: The manual-download zips it is built from.
CITYSCAPES_ZIPS = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")
_CITYSCAPES_PAIRS = {
  7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
  26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
#: Cityscapes labelId -> train id (19 classes, road = 0 ... bicycle = 18; everything else 255).
CITYSCAPES_TRAIN_IDS = np.full(256, IGNORE_INDEX, np.uint8)
CITYSCAPES_TRAIN_IDS[list(_CITYSCAPES_PAIRS)] = list(_CITYSCAPES_PAIRS.values())
CITYSCAPES_TRAIN_IDS.flags.writeable = False


@dataclasses.dataclass
class SegImages:
  """Images and their train-id labels (255 = ignore).

  Attributes:
    images: uint8 ``(H, W, 3)`` images (a list, or a sequence decoding on access).
    labels: uint8 ``(H, W)`` labels of the same sizes.
    names: one name per pair.
    num_classes: the number of train ids.
  """

  images: Sequence[np.ndarray]
  labels: Sequence[np.ndarray]
  names: Sequence[str]
  num_classes: int

  def __post_init__(self) -> None:
    counts = (len(self.images), len(self.labels), len(self.names))
    if len(set(counts)) != 1:
      raise DataNotFoundError(
        f"a segmentation set holds {counts[0]} images, {counts[1]} labels and {counts[2]} "
        f"names; give every image one label and one name"
      )

  def __len__(self) -> int:
    return len(self.images)


def normalize_images(images: np.ndarray) -> np.ndarray:
  """uint8 RGB images (any leading shape) to float32 with ImageNet's mean and std.

  Example:
    >>> normalize_images(np.full((1, 3), 255, np.uint8)).round(3).tolist()
    [[2.249, 2.429, 2.64]]
  """
  x = np.asarray(images, np.float32) / 255.0
  return (x - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(IMAGENET_STD, np.float32)


def resize_image(image: np.ndarray, size: tuple[int, int], box: Any = None) -> np.ndarray:
  """Bilinear resize of a uint8 ``(H, W, 3)`` image to ``size = (height, width)``.

  ``box = (x0, y0, x1, y1)`` (source pixels, floats) resizes only that
  region, as if the whole image had been resized and cropped.
  """
  from PIL import Image

  h, w = size
  if box is None and (h, w) == image.shape[:2]:
    return image
  return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR, box=box))


def nearest_index(out_size: int, in_size: int, scaled_size: int, start: int = 0) -> np.ndarray:
  """Source indices of output pixels ``start .. start+out_size-1`` of a nearest resize.

  The resize maps ``in_size`` pixels to ``scaled_size``; output pixel ``i``
  takes source pixel ``floor((i + 0.5) * in_size / scaled_size)``.
  """
  i = np.arange(start, start + out_size)
  return np.minimum(((i + 0.5) * (in_size / scaled_size)).astype(np.int64), in_size - 1)


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """Nearest-neighbour resize of an ``(H, W)`` label to ``size = (height, width)``."""
  h, w = label.shape[:2]
  if (h, w) == tuple(size):
    return label
  return label[nearest_index(size[0], h, size[0])[:, None], nearest_index(size[1], w, size[1])]


def scaled_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
  """``round(scale * side)`` of an image's height and width (at least 1 pixel)."""
  return max(1, int(round(shape[0] * scale))), max(1, int(round(shape[1] * scale)))


def crop_at(
  image: np.ndarray,
  label: np.ndarray,
  crop: int,
  scale: float,
  y0: int,
  x0: int,
  mirror: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
  """The ``crop`` square at ``(y0, x0)`` of the image rescaled by ``scale`` and padded to the crop.

  The rescaled image (:func:`scaled_size`) is padded at the bottom and
  right to at least ``crop`` pixels (image: :data:`MEAN_PIXEL`; label: 255);
  only the cropped region is resampled, as if the whole image had been.
  ``mirror`` flips both crops left to right.
  """
  h, w = label.shape
  nh, nw = scaled_size((h, w), scale)
  if not (0 <= y0 <= max(nh, crop) - crop and 0 <= x0 <= max(nw, crop) - crop):
    raise ValueError(f"crop offset ({y0}, {x0}) lies outside the {nh}x{nw} rescaled image")
  ch, cw = min(crop, nh - y0), min(crop, nw - x0)
  sy, sx = h / nh, w / nw
  out_image = np.empty((crop, crop, 3), np.uint8)
  out_image[...] = MEAN_PIXEL
  out_label = np.full((crop, crop), IGNORE_INDEX, np.uint8)
  box = (x0 * sx, y0 * sy, (x0 + cw) * sx, (y0 + ch) * sy)
  out_image[:ch, :cw] = resize_image(image, (ch, cw), box=box)
  rows, cols = nearest_index(ch, h, nh, y0), nearest_index(cw, w, nw, x0)
  out_label[:ch, :cw] = label[rows[:, None], cols]
  if mirror:
    out_image, out_label = out_image[:, ::-1], out_label[:, ::-1]
  return out_image, out_label


def crop_from_uniforms(
  image: np.ndarray, label: np.ndarray, u: np.ndarray, crop: int, lo: float, hi: float, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
  """:func:`crop_at` with scale, offsets and mirror read off four uniforms in [0, 1)."""
  scale = lo + u[0] * (hi - lo)
  nh, nw = scaled_size(label.shape, scale)
  y0 = int(u[1] * (max(nh, crop) - crop + 1))
  x0 = int(u[2] * (max(nw, crop) - crop + 1))
  return crop_at(image, label, crop, scale, y0, x0, bool(flip and u[3] < 0.5))


def random_scale_crop_flip(
  image: np.ndarray,
  label: np.ndarray,
  rng: np.random.Generator,
  crop: int,
  min_scale: float = 0.5,
  max_scale: float = 2.0,
  flip: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
  """A random training crop of a uint8 image and its label, the same on both.

  Draws four uniforms from ``rng`` (so turning ``flip`` off changes nothing
  else): the scale in ``[min_scale, max_scale]``, the crop's row and column
  in the rescaled, padded image, and the mirror coin (:func:`crop_at`).

  Example:
    >>> image, label = np.zeros((10, 20, 3), np.uint8), np.ones((10, 20), np.uint8)
    >>> a, b = random_scale_crop_flip(image, label, np.random.default_rng(0), crop=16)
    >>> a.shape, b.shape, sorted(set(b.ravel().tolist()) - {1})  # padding is 255
    ((16, 16, 3), (16, 16), [255])
  """
  return crop_from_uniforms(image, label, rng.random(4), crop, min_scale, max_scale, flip)


def centre_crop(image: np.ndarray, label: np.ndarray, crop: int) -> tuple[np.ndarray, np.ndarray]:
  """The unscaled ``crop`` square around the centre (padded where the image is smaller)."""
  h, w = label.shape
  return crop_at(image, label, crop, 1.0, (max(h, crop) - crop) // 2, (max(w, crop) - crop) // 2)


def _read_label(path: Path, num_classes: int, void_label: int, where: str) -> np.ndarray:
  from PIL import Image

  with checks.image_file(path, where, "replace it or fix the list"), Image.open(path) as im:
    if im.mode not in ("L", "P"):
      raise DataNotFoundError(
        f"{where}: label {path} has mode {im.mode}; it must be a single-channel (L or P) PNG "
        f"of train ids"
      )
    label = np.array(im, np.uint8)
  if void_label >= 0:
    label[label == void_label] = IGNORE_INDEX
  bad = (label >= num_classes) & (label != IGNORE_INDEX)
  if bad.any():
    raise ConfigError(
      f"{where}: label {path} holds id {int(label[bad].max())}, not below "
      f"config.data.num_classes={num_classes}; raise num_classes or set config.data.void_label "
      f"to the id to ignore"
    )
  return label


def load_seg_folder(
  root: str,
  list_file: str,
  num_classes: int,
  void_label: int = -1,
  limit: int = 0,
  field: str = "config.data.train_list",
) -> SegImages:
  """The pairs a list file names, read into memory.

  Args:
    root: the dataset folder (``config.data.data_dir``); ``$VARS`` and ``~`` are expanded.
    list_file: lines ``image label`` of paths relative to ``root`` (the list
      file itself is relative to ``root`` unless absolute).
    num_classes: the number of train ids; a larger id is an error.
    void_label: the id that becomes 255 (-1: none).
    limit: read only the first ``limit`` pairs (0: all).
    field: the config field that named the list, for error messages.

  Raises:
    DataNotFoundError: a missing folder, list or file, a malformed line, an
      unreadable image, or a label not of its image's size.
    ConfigError: a label id ``>= num_classes`` (other than the void id).
  """
  from PIL import Image

  images, labels, names = [], [], []
  for where, image_path, label_path in read_pair_list(root, list_file, field, limit):
    with (
      checks.image_file(image_path, where, "replace it or fix the list"),
      Image.open(image_path) as im,
    ):
      checks.check_8bit(im.mode, image_path, where)
      image = np.asarray(im.convert("RGB") if im.mode != "RGB" else im, np.uint8)
    label = _read_label(label_path, num_classes, void_label, where)
    if label.shape != image.shape[:2]:
      raise DataNotFoundError(
        f"{where}: label {label_path} is {label.shape[0]}x{label.shape[1]} but image "
        f"{image_path} is {image.shape[0]}x{image.shape[1]}; pair each image with its own "
        f"label of the same size"
      )
    images.append(image)
    labels.append(label)
    names.append(image_path.stem)
  return SegImages(images, labels, names, num_classes)


class _Records:
  """A tfds random-access source decoded on demand (the last few records cached)."""

  def __init__(self, source: Any, count: int):
    self.source, self.count = source, count
    self.get = functools.lru_cache(maxsize=8)(self._read)

  def _read(self, i: int) -> tuple[np.ndarray, np.ndarray, str]:
    if not 0 <= i < self.count:
      raise IndexError(i)
    r = self.source[int(i)]
    return _cityscapes_pair(r)


class _Column(Sequence):
  """Field ``k`` (0 image, 1 label, 2 name) of :class:`_Records`, as a sequence."""

  def __init__(self, records: _Records, k: int):
    self.records, self.k = records, k

  def __len__(self) -> int:
    return self.records.count

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self[j] for j in range(*i.indices(len(self)))]
    return self.records.get(int(i) + len(self) if i < 0 else int(i))[self.k]


def _cityscapes_pair(r: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
  image = np.asarray(r["image_left"], np.uint8)
  label = CITYSCAPES_TRAIN_IDS[np.asarray(r["segmentation_label"])[..., 0]]
  name = r.get("image_id", b"")
  return image, label, name.decode() if isinstance(name, bytes) else str(name)


def _tfds_root(builder: Any) -> Path:
  """The tfds data folder of a builder (``<root>/cityscapes/semantic_segmentation/<version>``)."""
  return Path(str(builder.data_dir)).parents[2]


def load_cityscapes(
  split: str = "train", data_dir: str = "", manual_dir: str = "", limit: int = 0
) -> SegImages:
  """Cityscapes' fine annotations through tensorflow-datasets, in train ids.

  A dataset not yet prepared in ``data_dir`` is built (once, as
  array_record, which needs TensorFlow) from ``leftImg8bit_trainvaltest.zip``
  and ``gtFine_trainvaltest.zip`` in ``manual_dir`` (default:
  ``<data_dir>/downloads/manual``), downloaded by hand from
  https://www.cityscapes-dataset.com after registering.

  Args:
    split: ``'train'`` (2975 images) or ``'validation'`` (500; the test
      split's labels are withheld).
    data_dir: the tfds data folder ('' for tfds' default).
    manual_dir: the folder holding the two zips ('' for tfds' default).
    limit: only the first ``limit`` images (0: all).

  Raises:
    DataNotFoundError: the dataset is neither prepared nor buildable, saying
      where to put the zips.
  """
  import tensorflow_datasets as tfds

  if split not in ("train", "validation"):
    raise ConfigError(f"Cityscapes has labelled splits 'train' and 'validation', got {split!r}")
  folder = str(expand_path(data_dir, "config.data.data_dir")) if data_dir else None
  builder = tfds.builder(CITYSCAPES_TFDS, data_dir=folder)
  if not builder.is_prepared():
    root = _tfds_root(builder)
    manual = expand_path(manual_dir, "config.data.manual_dir") if manual_dir else None
    manual = manual or root / "downloads" / "manual"
    missing = [z for z in CITYSCAPES_ZIPS if not (manual / z).is_file()]
    if missing:
      raise DataNotFoundError(
        f"{CITYSCAPES_TFDS} is not prepared in {root} and needs a manual download: register "
        f"at https://www.cityscapes-dataset.com, put {' and '.join(missing)} in {manual} (or "
        f"set --config.data.manual_dir to their folder) and run again, or use "
        f"config.data.source='folder' with list files"
      )
    try:
      builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)),
        file_format="array_record",
      )
    except Exception as e:  # tfds raises assorted errors (no TensorFlow, a corrupt zip, ...)
      raise DataNotFoundError(
        f"building {CITYSCAPES_TFDS} from the zips in {manual} failed "
        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); it needs "
        f"tensorflow (pip install tensorflow) and the two intact zips"
      ) from None
  try:
    source = tfds.data_source(CITYSCAPES_TFDS, split=split, data_dir=folder, download=False)
  except NotImplementedError:  # prepared as TFRecords: read it all through tfds.load
    records = tfds_records(CITYSCAPES_TFDS, split, folder, False, limit)
    pairs = [_cityscapes_pair(r) for r in records]
    return SegImages([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs], 19)
  records = _Records(source, min(len(source), limit) if limit else len(source))
  return SegImages(_Column(records, 0), _Column(records, 1), _Column(records, 2), 19)
