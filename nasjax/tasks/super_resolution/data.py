"""Super-resolution data: the config block and the patch batches of search and training.

Sources (``config.data.source``; the image sets are :mod:`nasjax.tasks.super_resolution.images`):

* ``folder`` -- folders of HR images (PNG; Set5, Set14, B100, Urban100 and
  DIV2K's ``DIV2K_train_HR`` are distributed this way): ``train_dir`` for
  training, ``test_dir`` for evaluation. Greyscale images are replicated to
  three channels; each HR image is cropped to a multiple of the scale and
  its LR image is MATLAB's bicubic downsample (:mod:`nasjax.tasks.super_resolution.imresize`).
* ``tfds`` -- DIV2K through tensorflow-datasets (``div2k/bicubic_x{scale}``,
  whose LR images are the dataset's own bicubic ones): the 800 training
  images, tested on ``test_dir`` when set, else DIV2K's 100 validation images.

Batches are dicts of NHWC float32 images in [0, 1]: ``image`` (LR, ``p/s``
pixels square) and ``label`` (the matching HR patch, ``p`` pixels, with
``p = config.data.patch_size`` and ``s`` the scale), plus ``weight`` (1 for
real examples, 0 for padding) where a batch is padded. An LR patch cut at
``(y, x)`` pairs with the HR patch cut at ``(s*y, s*x)``; flips and
90-degree rotations act on both alike.

A search splits the *images* of the training set into a weight part and an
alpha part with the policies of :func:`nasjax.data.split.split_indices`. An SR
epoch is ``config.data.steps_per_epoch`` steps. Step ``t`` of each part draws
``batch_size`` patches (a random image of the part, a random position, a
random flip and rotation) from ``np.random.default_rng`` seeded with
``(seed, t, part)``, so a resumed run sees the same batches; process ``p`` of
``P`` takes rows ``[p B/P, (p+1) B/P)`` of the global batch.

Example:
  >>> cfg = sr_data_config()
  >>> cfg.scale, cfg.patch_size, cfg.patch_size // cfg.scale
  (2, 96, 48)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from nasjax.checks import boolean, check, integer, one_of
from nasjax.data.batches import StepBatches, process_rows
from nasjax.data.split import ImageSplit, check_split
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.super_resolution.images import (
  SRImages,
  load_div2k,
  load_folder,
)

SR_SOURCES = ("folder", "tfds")
SR_SCALES = (2, 3, 4)
SR_DATASETS = ("div2k",)

Batch = dict[str, np.ndarray]


def sr_data_config() -> ConfigDict:
  """The ``config.data`` block of an SR search or retraining.

  Fields: ``source`` ('folder' or 'tfds'), ``name`` (tfds dataset, 'div2k'),
  ``scale`` (2, 3 or 4), ``train_dir`` / ``test_dir`` (HR image folders;
  ``test_dir`` also serves the tfds source, which otherwise tests on DIV2K
  validation), ``data_dir`` / ``download`` (tfds), ``train_limit`` (first N
  training images, 0 = all), ``patch_size`` (HR training patch side),
  ``eval_patch_size`` (HR side of the fixed centre crops), ``steps_per_epoch``,
  ``split_policy`` / ``split_ratio`` (:func:`nasjax.data.split.check_split`) and
  ``augment.flip`` / ``augment.rotate``.
  """
  # fmt: off
  return ConfigDict(dict(
    source="tfds", name="div2k", scale=2, train_dir="", test_dir="", data_dir="",
    download=False, train_limit=0, patch_size=96, eval_patch_size=96, steps_per_epoch=1000,
    split_policy="disjoint", split_ratio=0.5, augment=ConfigDict(dict(flip=True, rotate=True)),
  ))
  # fmt: on


def validate_sr_data(cfg: ConfigDict) -> None:
  """Raises ConfigError (one sentence naming the fix) for an impossible SR ``config.data``."""
  one_of(cfg.source, SR_SOURCES, "config.data.source")
  if cfg.source == "tfds":
    one_of(cfg.name, SR_DATASETS, "config.data.name")
  check(
    not isinstance(cfg.scale, bool) and cfg.scale in SR_SCALES,
    f"config.data.scale must be one of {list(SR_SCALES)}, got {cfg.scale!r}",
  )
  for field in ("patch_size", "eval_patch_size"):
    value = cfg[field]
    integer(value, f"config.data.{field}", low=cfg.scale)
    check(
      not value % cfg.scale,
      f"config.data.{field}={value} is not a multiple of config.data.scale={cfg.scale}; use "
      f"{value - value % cfg.scale} or {value - value % cfg.scale + cfg.scale}",
    )
  integer(cfg.steps_per_epoch, "config.data.steps_per_epoch", low=1)
  integer(cfg.train_limit, "config.data.train_limit", low=0)
  check_split(cfg.split_policy, cfg.split_ratio)
  boolean(cfg.download, "config.data.download")
  for field in ("flip", "rotate"):
    boolean(cfg.augment[field], f"config.data.augment.{field}")
  if cfg.source == "folder":
    for field in ("train_dir", "test_dir"):
      check(
        isinstance(cfg[field], str) and bool(cfg[field]),
        f"config.data.{field} must name a folder of HR images with config.data.source='folder'",
      )


def validate_data(config: ConfigDict) -> None:
  """The super-resolution task's checks: ``config.data``, and its scale against the space's.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  validate_sr_data(config.data)
  check(
    config.data.scale == config.space.scale,
    f"config.data.scale={config.data.scale} but config.space.scale={config.space.scale}; "
    "set both to the same factor",
  )


def search_data(config: ConfigDict, process_index: int = 0, process_count: int = 1) -> SRSearchData:
  """The search batches of a super-resolution ``config``: patches of its images, split by image."""
  train, test = load_sr_dataset(config.data)
  return SRSearchData(
    train, config.data, config.seed, config.batch_size, process_index, process_count, test=test
  )


def load_sr_dataset(cfg: ConfigDict) -> tuple[SRImages, SRImages]:
  """``(train, test)`` images of ``config.data`` (see the module docstring)."""
  validate_sr_data(cfg)
  if cfg.source == "folder":
    train = load_folder(cfg.train_dir, cfg.scale, cfg.train_limit, "config.data.train_dir")
  else:
    train = load_div2k(cfg.scale, "train", cfg.data_dir, cfg.download, cfg.train_limit)
  if cfg.test_dir:
    test = load_folder(cfg.test_dir, cfg.scale, field="config.data.test_dir")
  else:
    test = load_div2k(cfg.scale, "validation", cfg.data_dir, cfg.download)
  return train, test


def _fitting_patch(hrs: list[np.ndarray], scale: int, size: int) -> int:
  """``size``, or the largest multiple of ``scale`` that fits in every HR image if smaller."""
  smallest = min(min(im.shape[:2]) for im in hrs)
  return min(size, smallest - smallest % scale)


def _padded_batches(
  images: SRImages, idx: np.ndarray, batch_size: int, patch: int, limit: int
) -> Iterator[Batch]:
  """Centre crops (HR side ``patch``) of the images ``idx`` in fixed-size batches, with weights."""
  n = min(len(idx), limit) if limit else len(idx)
  batch_size, s, lp = min(batch_size, n), images.scale, patch // images.scale
  for start in range(0, n, batch_size):
    pos = np.arange(start, start + batch_size)
    lrs, hrs = [], []
    for i in idx[pos % n]:
      y, x = (images.lr[i].shape[0] - lp) // 2, (images.lr[i].shape[1] - lp) // 2
      lrs.append(images.lr[i][y : y + lp, x : x + lp])
      hrs.append(images.hr[i][s * y : s * (y + lp), s * x : s * (x + lp)])
    yield {
      "image": np.stack(lrs).astype(np.float32) / 255.0,
      "label": np.stack(hrs).astype(np.float32) / 255.0,
      "weight": (pos < n).astype(np.float32),
    }


def random_patches(
  images: SRImages, idx: np.ndarray, count: int, patch: int, rng: np.random.Generator, aug: Any
) -> tuple[np.ndarray, np.ndarray]:
  """``count`` random (LR, HR) uint8 patch pairs from the images ``idx``; HR side ``patch``.

  Every draw is taken whatever ``aug`` says (image, position, flip, number
  of quarter turns), so switching an augmentation off leaves the crops as they were.
  """
  s, lp = images.scale, patch // images.scale
  which = idx[rng.integers(0, len(idx), count)]
  sizes = np.array([images.lr[i].shape[:2] for i in which]).reshape(count, 2)
  ys = rng.integers(0, sizes[:, 0] - lp + 1)
  xs = rng.integers(0, sizes[:, 1] - lp + 1)
  flips, turns = rng.random(count) < 0.5, rng.integers(0, 4, count)
  lrs, hrs = [], []
  for k, i in enumerate(which):
    lr, hr, y, x = images.lr[i], images.hr[i], int(ys[k]), int(xs[k])
    a, b = lr[y : y + lp, x : x + lp], hr[s * y : s * (y + lp), s * x : s * (x + lp)]
    if aug.flip and flips[k]:
      a, b = a[:, ::-1], b[:, ::-1]
    if aug.rotate and turns[k]:
      a, b = np.rot90(a, turns[k]), np.rot90(b, turns[k])
    lrs.append(a)
    hrs.append(b)
  return np.stack(lrs), np.stack(hrs)


class _PatchData(StepBatches):
  """What :class:`SRSearchData` and :class:`SRTrainData` share: checks, sharding, evaluation."""

  def __init__(
    self,
    images: SRImages,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    *,
    test: SRImages | None = None,
  ):
    rows = process_rows(batch_size, process_index, process_count)
    if not len(images):
      raise DataNotFoundError("the SR training set holds no image; check config.data")
    if cfg.patch_size % images.scale:
      raise ConfigError(
        f"config.data.patch_size={cfg.patch_size} is not a multiple of the scale {images.scale}"
      )
    self.num_examples = min(len(images), cfg.train_limit) if cfg.train_limit else len(images)
    sides = [min(im.shape[:2]) for im in images.hr[: self.num_examples]]
    smallest = min(sides)
    if cfg.patch_size > smallest:
      name = images.names[sides.index(smallest)]
      raise ConfigError(
        f"config.data.patch_size={cfg.patch_size} is larger than the smallest training image "
        f"({name}, {smallest} HR pixels on its shorter side); lower it to at most "
        f"{smallest - smallest % images.scale} or remove that image"
      )
    self.dataset, self.test, self.cfg, self.seed = images, test, cfg, seed
    self.batch_size = batch_size
    self.steps_per_epoch = cfg.steps_per_epoch
    self.rows = rows
    lp = cfg.patch_size // images.scale
    #: The shape of one LR input patch (what a network is initialised with).
    self.image_shape = (lp, lp, 3)

  def _draw(self, idx: np.ndarray, rng: np.random.Generator) -> Batch:
    lr, hr = random_patches(
      self.dataset, idx, self.batch_size, self.cfg.patch_size, rng, self.cfg.augment
    )
    return {
      "image": lr[self.rows].astype(np.float32) / 255.0,
      "label": hr[self.rows].astype(np.float32) / 255.0,
    }

  def eval_batches(self, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """Centre crops of the test images (their first ``limit`` when set), in fixed-size batches.

    Every crop is ``config.data.eval_patch_size`` HR pixels square (or the
    largest multiple of the scale that fits in the smallest test image), so
    all batches share one shape; the last batch is filled up from the start
    at ``weight`` 0.
    """
    if self.test is None:
      raise ValueError("this data was built without test images; pass test=SRImages(...)")
    patch = _fitting_patch(self.test.hr, self.test.scale, self.cfg.eval_patch_size)
    yield from _padded_batches(self.test, np.arange(len(self.test)), batch_size, patch, limit)


class SRSearchData(ImageSplit, _PatchData):
  """Patch batches of a bilevel SR search, a pure function of the step.

  Args:
    images: the training images (split by image into the weight and alpha parts).
    cfg: ``config.data`` (:func:`sr_data_config`).
    seed: the search seed.
    batch_size: the global number of patches per part and step.
    process_index: this process's index; with ``process_count``, its share of every batch.
    process_count: the number of processes sharing every batch.
    test: the test images, for :meth:`eval_batches`.
  """

  def __init__(
    self,
    images: SRImages,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
    *,
    test: SRImages | None = None,
  ):
    super().__init__(images, cfg, seed, batch_size, process_index, process_count, test=test)
    self._split_images()

  def batch(self, step: int) -> tuple[Batch, Batch]:
    """``(train_batch, val_batch)`` of search step ``step``: weight part, alpha part."""
    parts = self.split(step // self.steps_per_epoch)
    return tuple(
      self._draw(parts[half], np.random.default_rng([self.seed, step, half, 0x5A1]))
      for half in (0, 1)
    )

  def half_batches(self, half: str, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """One part (``'weight'`` or ``'alpha'``) as fixed centre crops, one per image, unaugmented.

    For measurements on the search's own data (selection, discretisation,
    Hessian): the images of the part in index order (its first ``limit``
    when set), each cropped to ``config.data.eval_patch_size`` HR pixels
    around its centre (or the largest multiple of the scale that fits in
    every training image), with ``weight`` 1; the last batch is filled up
    from the start of the part at weight 0, and a part smaller than
    ``batch_size`` is one batch of its own size. The parts are those of epoch 0.
    """
    if half not in ("weight", "alpha"):
      raise ValueError(f"half must be 'weight' or 'alpha', got {half!r}")
    idx = self.weight_idx if half == "weight" else self.alpha_idx
    hrs = self.dataset.hr[: self.num_examples]
    patch = _fitting_patch(hrs, self.dataset.scale, self.cfg.eval_patch_size)
    yield from _padded_batches(self.dataset, idx, batch_size, patch, limit)


class SRTrainData(_PatchData):
  """Random augmented patch batches of every training image, for retraining a derived network.

  Args: as :class:`SRSearchData`.
  """

  def batch(self, step: int) -> Batch:
    """The training batch of step ``step``."""
    rng = np.random.default_rng([self.seed, step, 0x7A1])
    return self._draw(np.arange(self.num_examples), rng)
