"""Segmentation data: the config block, augmentation and the batches of search and training.

Sources (``config.data.source``; the image sets are :mod:`nasjax.tasks.segmentation.images`):

* ``tfds`` -- Cityscapes (``name='cityscapes'``) through tensorflow-datasets,
  built once from the manual-download zips: its ``train`` split trains, its
  ``validation`` split is the test set (the test split's labels are withheld).
* ``folder`` -- list files of ``image label`` lines under ``data_dir``
  (``train_list`` trains, ``test_list`` tests), e.g. CamVid's ``train.txt``
  and ``val.txt`` with ``void_label=11``.

Batches are dicts of ``image`` (float32 ``(B, crop, crop, 3)``, normalised
with ImageNet's mean and std) and ``label`` (int32 ``(B, crop, crop)`` train
ids, 255 = ignore), plus ``weight`` (1 real, 0 filler) where a batch is padded.
A training crop is :func:`random_scale_crop_flip` of one image: a random
rescale in ``[min_scale, max_scale]``, padding to the crop (mean pixel,
label 255), a random crop and a random mirror, the same on image and label.

A search splits the *images* of the training set into a weight part and an
alpha part with the policies of :func:`nasjax.data.split.split_indices`. In epoch
``e`` each part is visited in a seeded order (a fresh order whenever a part
is used up within the epoch); the augmentation of step ``t`` is drawn from
``np.random.default_rng`` seeded with ``(seed, t, part)``, so batches are a
pure function of the seed and the step and a resumed run sees the same
ones; process ``p`` of ``P`` takes rows ``[p B/P, (p+1) B/P)`` of the global batch.

Example:
  >>> cfg = seg_data_config()
  >>> cfg.name, cfg.num_classes, cfg.crop_size, (cfg.min_scale, cfg.max_scale)
  ('cityscapes', 19, 321, (0.5, 2.0))
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from nasjax.checks import boolean, check, integer, is_number, one_of
from nasjax.data.batches import StepBatches, process_rows
from nasjax.data.split import ImageSplit, check_split
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.segmentation.images import (
  SegImages,
  centre_crop,
  crop_from_uniforms,
  load_cityscapes,
  load_seg_folder,
  normalize_images,
  resize_image,
  resize_label,
  scaled_size,
)
from nasjax.tasks.segmentation.losses import IGNORE_INDEX

SEG_SOURCES = ("tfds", "folder")
#: The class count of each known dataset (train ids, void excluded).
SEG_NUM_CLASSES = {"cityscapes": 19, "camvid": 11}
EVAL_MODES = ("whole", "sliding")

Batch = dict[str, np.ndarray]


def seg_data_config() -> ConfigDict:
  """The ``config.data`` block of a segmentation search or retraining.

  Auto-DeepLab's Cityscapes search recipe (arXiv 1901.02985) gives
  ``crop_size=321`` and the 50/50 split of the training images into the
  weight and alpha parts; the rescale range ``[0.5, 2.0]`` with mirroring is
  DeepLab's usual training augmentation, and ``eval_crop=769`` Auto-DeepLab's
  retraining crop; ``eval_stride=513`` and the other values are defaults
  chosen here.

  Fields: ``source`` ('tfds' or 'folder'), ``name`` ('cityscapes',
  'camvid', or any name for a folder), ``data_dir`` (the folder the list
  files' paths are relative to; the tfds data folder for 'tfds', '' = tfds'
  default), ``manual_dir`` (where Cityscapes' zips are, '' = tfds' default),
  ``train_list`` / ``test_list`` (list files), ``num_classes``,
  ``void_label`` (the label id read as 255; -1 = none), ``crop_size``,
  ``min_scale`` / ``max_scale``, ``flip``, ``train_limit`` / ``test_limit``
  (first N images, 0 = all), ``steps_per_epoch`` (0 = as many as the smaller
  part holds batches), ``split_policy`` / ``split_ratio``
  (:func:`nasjax.data.split.check_split`), ``eval_mode`` ('whole' or 'sliding'),
  ``eval_crop`` / ``eval_stride`` (sliding windows) and ``eval_scale`` (test
  images and labels resized by it; < 1 for cheaper evaluation).
  """
  # fmt: off
  return ConfigDict(dict(
    source="tfds", name="cityscapes", data_dir="", manual_dir="", train_list="train.txt",
    test_list="val.txt", num_classes=19, void_label=-1, crop_size=321, min_scale=0.5,
    max_scale=2.0, flip=True, train_limit=0, test_limit=0, steps_per_epoch=0,
    split_policy="disjoint", split_ratio=0.5, eval_mode="whole", eval_crop=769,
    eval_stride=513, eval_scale=1.0,
  ))
  # fmt: on


def validate_seg_data(cfg: ConfigDict) -> None:
  """Raises ConfigError (one sentence naming the fix) for an impossible ``config.data``."""
  known = set(seg_data_config().keys())
  unknown, missing = sorted(set(cfg.keys()) - known), sorted(known - set(cfg.keys()))
  check(
    not unknown,
    f"config.data has unknown field(s) {unknown}; segmentation data takes {sorted(known)}",
  )
  check(
    not missing,
    f"config.data lacks {missing}; start from nasjax.tasks.segmentation.data.seg_data_config()",
  )
  one_of(cfg.source, SEG_SOURCES, "config.data.source")
  check(
    cfg.source != "tfds" or cfg.name == "cityscapes",
    f"config.data.name must be 'cityscapes' with source='tfds', got {cfg.name!r}; read other "
    f"sets with config.data.source='folder'",
  )
  check(
    isinstance(cfg.name, str) and bool(cfg.name),
    f"config.data.name must name the dataset, got {cfg.name!r}",
  )
  integer(cfg.num_classes, "config.data.num_classes", low=1)
  integer(cfg.num_classes, "config.data.num_classes", high=IGNORE_INDEX)
  expected = SEG_NUM_CLASSES.get(cfg.name)
  check(
    expected is None or cfg.num_classes == expected,
    f"config.data.num_classes={cfg.num_classes} but {cfg.name} has {expected} classes; set "
    f"--config.data.num_classes={expected}",
  )
  integer(cfg.void_label, "config.data.void_label", low=-1)
  integer(cfg.void_label, "config.data.void_label", high=IGNORE_INDEX)
  for field in ("data_dir", "manual_dir", "train_list", "test_list"):
    check(isinstance(cfg[field], str), f"config.data.{field} must be a string, got {cfg[field]!r}")
  if cfg.source == "folder":
    for field in ("data_dir", "train_list", "test_list"):
      check(
        bool(cfg[field]),
        f"config.data.{field} must be set with config.data.source='folder' (the dataset folder "
        f"and its 'image label' list files)",
      )
  integer(cfg.crop_size, "config.data.crop_size", low=1)
  check(
    is_number(cfg.min_scale) and cfg.min_scale > 0,
    f"config.data.min_scale must be a number > 0, got {cfg.min_scale!r}",
  )
  check(
    is_number(cfg.max_scale) and cfg.max_scale > 0,
    f"config.data.max_scale must be a number > 0, got {cfg.max_scale!r}",
  )
  check(
    cfg.min_scale <= cfg.max_scale,
    f"config.data.min_scale={cfg.min_scale} exceeds config.data.max_scale={cfg.max_scale}; "
    f"swap them",
  )
  boolean(cfg.flip, "config.data.flip")
  for field in ("train_limit", "test_limit", "steps_per_epoch"):
    integer(cfg[field], f"config.data.{field}", low=0)
  check_split(cfg.split_policy, cfg.split_ratio)
  one_of(cfg.eval_mode, EVAL_MODES, "config.data.eval_mode")
  integer(cfg.eval_crop, "config.data.eval_crop", low=1)
  integer(cfg.eval_stride, "config.data.eval_stride", low=1)
  integer(cfg.eval_stride, "config.data.eval_stride", high=cfg.eval_crop)
  check(
    is_number(cfg.eval_scale) and cfg.eval_scale > 0,
    f"config.data.eval_scale must be a number > 0, got {cfg.eval_scale!r}",
  )


def check_classes(config: ConfigDict) -> None:
  """The space's classifier must have the dataset's number of classes.

  Raises:
    ConfigError: naming both fields.
  """
  check(
    config.space.num_classes == config.data.num_classes,
    f"config.space.num_classes={config.space.num_classes} but config.data.num_classes="
    f"{config.data.num_classes}; set both to the dataset's number of classes",
  )


def validate_data(config: ConfigDict) -> None:
  """The segmentation task's checks: ``config.data``, and its classes against the space's.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  validate_seg_data(config.data)
  check_classes(config)


def search_data(
  config: ConfigDict, process_index: int = 0, process_count: int = 1
) -> SegSearchData:
  """The search batches of a segmentation ``config``: crops of its images, split by image."""
  train, test = load_seg_dataset(config.data)
  return SegSearchData(
    train, config.data, config.seed, config.batch_size, process_index, process_count, test=test
  )


def load_seg_dataset(cfg: ConfigDict) -> tuple[SegImages, SegImages]:
  """``(train, test)`` pairs of ``config.data`` (see the module docstring), limits applied."""
  validate_seg_data(cfg)
  if cfg.source == "folder":
    parts = (("train_list", cfg.train_limit), ("test_list", cfg.test_limit))
    return tuple(
      load_seg_folder(cfg.data_dir, cfg[f], cfg.num_classes, cfg.void_label, n, f"config.data.{f}")
      for f, n in parts
    )
  train = load_cityscapes("train", cfg.data_dir, cfg.manual_dir, cfg.train_limit)
  return train, load_cityscapes("validation", cfg.data_dir, cfg.manual_dir, cfg.test_limit)


def _stack(pairs: list[tuple[np.ndarray, np.ndarray]]) -> Batch:
  images, labels = zip(*pairs, strict=True)
  return {"image": normalize_images(np.stack(images)), "label": np.stack(labels).astype(np.int32)}


def _padded(pairs: list[tuple[np.ndarray, np.ndarray]], batch_size: int) -> Iterator[Batch]:
  """Fixed-size batches of ``pairs``; the last filled up from the start at ``weight`` 0."""
  n = len(pairs)
  batch_size = min(batch_size, n)
  for start in range(0, n, batch_size):
    pos = np.arange(start, start + batch_size)
    batch = _stack([pairs[i] for i in pos % n])
    batch["weight"] = (pos < n).astype(np.float32)
    yield batch


class _SegBatches(StepBatches):
  """What :class:`SegSearchData` and :class:`SegTrainData` share: checks, sharding, evaluation."""

  _TAG = 0x5E6

  def __init__(
    self,
    images: SegImages,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    *,
    test: SegImages | None = None,
  ):
    validate_seg_data(cfg)
    rows = process_rows(batch_size, process_index, process_count)
    if not len(images):
      raise DataNotFoundError("the segmentation training set holds no image; check config.data")
    self.dataset, self.test, self.cfg, self.seed = images, test, cfg, seed
    self.batch_size = batch_size
    self.num_examples = min(len(images), cfg.train_limit) if cfg.train_limit else len(images)
    self.rows = rows
    #: The shape of one input crop (what a network is initialised with).
    self.image_shape = (cfg.crop_size, cfg.crop_size, 3)
    self._test_cache: tuple[list[np.ndarray], list[np.ndarray]] | None = None

  def _steps(self, smallest: int, what: str) -> int:
    if self.cfg.steps_per_epoch:
      return self.cfg.steps_per_epoch
    if smallest < self.batch_size:
      raise ConfigError(
        f"config.batch_size={self.batch_size} is larger than {what} ({smallest} images); lower "
        f"it or set config.data.steps_per_epoch"
      )
    return smallest // self.batch_size

  def _images_of(self, idx: np.ndarray, epoch: int, part: int, start: int) -> np.ndarray:
    """Images ``start .. start+B-1`` of a part's stream in ``epoch``: seeded orders, end to end."""
    n = len(idx)
    pos = np.arange(start, start + self.batch_size)
    out = np.empty(self.batch_size, np.int64)
    for r in np.unique(pos // n):
      order = np.random.default_rng([self.seed, epoch, part, int(r), self._TAG]).permutation(n)
      at = pos // n == r
      out[at] = idx[order[pos[at] % n]]
    return out

  def _draw(self, which: np.ndarray, rng: np.random.Generator) -> Batch:
    """The augmented crops of this process's rows of the global batch of images ``which``."""
    u = rng.random((len(which), 4))  # drawn for every row, so all processes agree
    c = self.cfg
    pairs = [
      crop_from_uniforms(
        self.dataset.images[i], self.dataset.labels[i], u[k], c.crop_size, c.min_scale,
        c.max_scale, c.flip,
      )
      for k, i in list(enumerate(which))[self.rows]
    ]  # fmt: skip
    return _stack(pairs)

  def test_set(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(images, labels)``: the test pairs (first ``test_limit``) resized by ``eval_scale``.

    uint8 ``(H, W, 3)`` images and uint8 ``(H, W)`` labels (255 = ignore),
    each image at its own size, for
    :func:`nasjax.tasks.segmentation.metrics.evaluate_segmentation`.
    """
    if self.test is None:
      raise ValueError("this data was built without test images; pass test=SegImages(...)")
    if self._test_cache is None:
      n = len(self.test)
      n = min(n, self.cfg.test_limit) if self.cfg.test_limit else n
      images, labels = [], []
      for i in range(n):
        image, label = self.test.images[i], self.test.labels[i]
        size = scaled_size(label.shape, self.cfg.eval_scale)
        images.append(resize_image(image, size))
        labels.append(resize_label(label, size))
      self._test_cache = images, labels
    return self._test_cache

  def eval_batches(self, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """The whole test images (:meth:`test_set`; their first ``limit``) in fixed-size batches.

    Every image is brought to the first's (``eval_scale``-resized) shape --
    a differing one is resized to it (bilinear image, nearest label) -- so
    all batches share one shape; the last batch is filled up from the start
    at ``weight`` 0, and a set smaller than ``batch_size`` is one batch.
    """
    images, labels = self.test_set()
    n = min(len(images), limit) if limit else len(images)
    size = labels[0].shape
    pairs = [(resize_image(images[i], size), resize_label(labels[i], size)) for i in range(n)]
    yield from _padded(pairs, batch_size)


class SegSearchData(ImageSplit, _SegBatches):
  """Crop batches of a bilevel segmentation search, a pure function of the step.

  Args:
    images: the training pairs (split by image into the weight and alpha parts).
    cfg: ``config.data`` (:func:`seg_data_config`).
    seed: the search seed.
    batch_size: the global number of crops per part and step.
    process_index: this process's index; with ``process_count``, its share of every batch.
    process_count: the number of processes sharing every batch.
    test: the test pairs, for :meth:`eval_batches` and :meth:`test_set`.
  """

  def __init__(
    self,
    images: SegImages,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    *,
    test: SegImages | None = None,
  ):
    super().__init__(images, cfg, seed, batch_size, process_index, process_count, test=test)
    self._split_images()
    smaller = min(len(self.weight_idx), len(self.alpha_idx))
    self.steps_per_epoch = self._steps(smaller, "the smaller data part")

  def batch(self, step: int) -> tuple[Batch, Batch]:
    """``(train_batch, val_batch)`` of search step ``step``: weight part, alpha part."""
    epoch, k = divmod(step, self.steps_per_epoch)
    parts = self.split(epoch)
    return tuple(
      self._draw(
        self._images_of(parts[part], epoch, part, k * self.batch_size),
        np.random.default_rng([self.seed, step, part, 0x5E7]),
      )
      for part in (0, 1)
    )

  def half_batches(self, half: str, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """One part (``'weight'`` or ``'alpha'``) as fixed centre crops, one per image, unaugmented.

    For measurements on the search's own data (selection, discretisation,
    Hessian): the images of the part in index order (its first ``limit``
    when set), each cut to ``crop_size`` around its centre at scale 1
    (padded where smaller), with ``weight`` 1; the last batch is filled up
    from the start of the part at weight 0, and a part smaller than
    ``batch_size`` is one batch of its own size. The parts are those of epoch 0.
    """
    if half not in ("weight", "alpha"):
      raise ValueError(f"half must be 'weight' or 'alpha', got {half!r}")
    idx = self.weight_idx if half == "weight" else self.alpha_idx
    idx = idx[:limit] if limit else idx
    crop = self.cfg.crop_size
    pairs = [centre_crop(self.dataset.images[i], self.dataset.labels[i], crop) for i in idx]
    yield from _padded(pairs, batch_size)


class SegTrainData(_SegBatches):
  """Augmented crop batches of every training image, for retraining a derived network.

  Each epoch visits the training images (the first ``train_limit``) in a
  seeded order, ``steps_per_epoch`` batches long (0: the images' number of
  whole batches). Args: as :class:`SegSearchData`.
  """

  _TAG = 0x7E6

  def __init__(self, *args: Any, **kwargs: Any):
    super().__init__(*args, **kwargs)
    self.steps_per_epoch = self._steps(self.num_examples, "the training set")

  def batch(self, step: int) -> Batch:
    """The training batch of step ``step``."""
    epoch, k = divmod(step, self.steps_per_epoch)
    which = self._images_of(np.arange(self.num_examples), epoch, 2, k * self.batch_size)
    return self._draw(which, np.random.default_rng([self.seed, step, 0x7A6]))
