"""Classification batches: the search's two halves and the whole training set, by step.

:class:`SearchData` reads a search's batches as a pure function of ``(seed,
step)``: the split of the training set into the weight and alpha parts in
each epoch (:mod:`nasjax.data.split`), each part's order in an epoch and
every augmentation draw are derived from the seed, the epoch and the step.
:class:`TrainData` reads the whole training set the same way for retraining
a derived network. :func:`search_data` and :func:`validate_data` are the
classification task's data hooks (:mod:`nasjax.tasks.classification.task`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from nasjax.checks import check, is_int, non_negative, one_of
from nasjax.data.batches import StepBatches, process_rows
from nasjax.data.split import check_split, split_indices
from nasjax.errors import ConfigError
from nasjax.tasks.classification.datasets import (
  NUM_CLASSES,
  SOURCES,
  ImageDataset,
  load_dataset,
  normalize,
)

Batch = dict[str, np.ndarray]


def augment(
  images: np.ndarray, rng: np.random.Generator, crop_padding: int = 4, flip: bool = True
) -> np.ndarray:
  """Random crop after zero padding, and random horizontal flip, of uint8 NHWC images."""
  n, h, w, _ = images.shape
  if crop_padding:
    p = crop_padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    images = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
  if flip:
    mirror = rng.random(n) < 0.5
    images = np.where(mirror[:, None, None, None], images[:, :, ::-1], images)
  return images


def cutout(images: np.ndarray, rng: np.random.Generator, length: int) -> np.ndarray:
  """DARTS' cutout: zero the square ``[c - length//2, c + length//2)`` around a random pixel."""
  n, h, w, _ = images.shape
  cy, cx = rng.integers(0, h, n), rng.integers(0, w, n)
  half = length // 2
  ys, xs = np.arange(h)[None, :], np.arange(w)[None, :]
  inside_y = (ys >= cy[:, None] - half) & (ys < cy[:, None] + half)
  inside_x = (xs >= cx[:, None] - half) & (xs < cx[:, None] + half)
  keep = ~(inside_y[:, :, None] & inside_x[:, None, :])
  return images * keep[:, :, :, None].astype(images.dtype)


class SearchData(StepBatches):
  """Training batches for a bilevel search, as a pure function of the step.

  Args:
    dataset: the images.
    cfg: ``config.data``.
    seed: the search seed.
    batch_size: the global batch size of each half.
    process_index: this process's index; with ``process_count``, its share of every batch.
    process_count: the number of processes sharing every batch.
  """

  def __init__(
    self,
    dataset: ImageDataset,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
  ):
    rows = process_rows(batch_size, process_index, process_count)
    n = len(dataset.x_train)
    if cfg.train_limit:
      n = min(n, cfg.train_limit)
    self.dataset, self.cfg, self.seed = dataset, cfg, seed
    self.batch_size = batch_size
    self.rows = rows
    self.num_examples = n
    self.weight_idx, self.alpha_idx = split_indices(n, seed, cfg.split_policy, cfg.split_ratio)
    # Every epoch's parts have these sizes, so the number of steps is the same in every epoch.
    smaller = min(len(self.weight_idx), len(self.alpha_idx))
    self.steps_per_epoch = smaller // batch_size
    if self.steps_per_epoch < 1:
      raise ConfigError(
        f"config.batch_size={batch_size} is larger than a data part ({smaller} examples with "
        f"split_policy={cfg.split_policy!r}); lower it"
      )
    self._order_cache: dict[tuple[int, int], np.ndarray] = {}

  @property
  def image_shape(self) -> tuple[int, ...]:
    """One input example's shape, e.g. ``(32, 32, 3)``."""
    return tuple(self.dataset.x_train.shape[1:])

  def split(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(weight_idx, alpha_idx)``: the training examples of each part in ``epoch``."""
    if epoch == 0 or self.cfg.split_policy != "reshuffle":
      return self.weight_idx, self.alpha_idx
    return split_indices(
      self.num_examples, self.seed, self.cfg.split_policy, self.cfg.split_ratio, epoch
    )

  def _order(self, epoch: int, half: int) -> np.ndarray:
    key = (epoch, half)
    if key not in self._order_cache:
      idx = self.split(epoch)[half]
      self._order_cache = {k: v for k, v in self._order_cache.items() if k[0] >= epoch - 1}
      self._order_cache[key] = idx[
        np.random.default_rng([self.seed, epoch, half]).permutation(len(idx))
      ]
    return self._order_cache[key]

  def _half_batch(self, step: int, half: int) -> Batch:
    epoch, k = divmod(step, self.steps_per_epoch)
    rows = self._order(epoch, half)[k * self.batch_size : (k + 1) * self.batch_size]
    rng = np.random.default_rng([self.seed, epoch, k, half, 0xA06])
    aug = self.cfg.augment
    images = augment(self.dataset.x_train[rows], rng, aug.crop_padding, aug.flip)
    images = normalize(images, self.dataset.name)
    if aug.cutout:
      images = cutout(images, rng, aug.cutout)
    return {"image": images[self.rows], "label": self.dataset.y_train[rows][self.rows]}

  def batch(self, step: int) -> tuple[Batch, Batch]:
    """``(train_batch, val_batch)`` of search step ``step``: weight part, alpha part."""
    return self._half_batch(step, 0), self._half_batch(step, 1)

  def half_batches(self, half: str, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """One data half (``'weight'`` or ``'alpha'``) in fixed-size batches, unaugmented.

    For measurements on the search's own data (selection, discretisation,
    Hessian): the examples of the half in index order (its first ``limit``
    when set), normalised, with a ``weight`` of 1 per real example; the last
    batch is filled up from the start of the half at weight 0 (as
    :meth:`eval_batches`). A half smaller than ``batch_size`` is one batch
    of its own size (no filler to compute on, or to enter batch-statistics
    BN). The halves are the epoch-0 parts of the split (both the whole set
    under the ``shared`` policy).
    """
    if half not in ("weight", "alpha"):
      raise ValueError(f"half must be 'weight' or 'alpha', got {half!r}")
    idx = self.weight_idx if half == "weight" else self.alpha_idx
    n = min(len(idx), limit) if limit else len(idx)
    batch_size = min(batch_size, n)
    for start in range(0, n, batch_size):
      pos = np.arange(start, start + batch_size)
      rows = idx[pos % n]
      yield {
        "image": normalize(self.dataset.x_train[rows], self.dataset.name),
        "label": self.dataset.y_train[rows],
        "weight": (pos < n).astype(np.float32),
      }

  def eval_batches(self, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """The test split in fixed-size batches, with a ``weight`` of 1 per real example.

    The last batch is filled up with examples from the start of the split at
    weight 0, so every batch has one shape (one compile) and batch-statistics
    BN never sees padding.
    """
    x, y = self.dataset.x_test, self.dataset.y_test
    n = min(len(x), limit) if limit else len(x)
    for start in range(0, n, batch_size):
      rows = np.arange(start, start + batch_size) % n
      weight = (np.arange(start, start + batch_size) < n).astype(np.float32)
      yield {"image": normalize(x[rows], self.dataset.name), "label": y[rows], "weight": weight}


class TrainData(StepBatches):
  """Batches of the whole training set for training a fixed network, a pure function of the step.

  Each epoch visits the training set (its first ``cfg.train_limit`` images
  when set) in a seeded order; the last incomplete batch is dropped. The
  augmentation is the search's (:func:`augment`, then :func:`cutout` after
  normalisation, as DARTS applies it), drawn from the seed, the epoch and
  the step, so resuming at a step needs no iterator state.

  Args:
    dataset: the images.
    cfg: ``config.data`` of a retrain config (``augment``, ``train_limit``).
    seed: the run's seed.
    batch_size: the global batch size.
    process_index: this process's index; with ``process_count``, its share of every batch.
    process_count: the number of processes sharing every batch.
  """

  def __init__(
    self,
    dataset: ImageDataset,
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
  ):
    rows = process_rows(batch_size, process_index, process_count)
    n = len(dataset.x_train)
    self.num_examples = min(n, cfg.train_limit) if cfg.train_limit else n
    self.steps_per_epoch = self.num_examples // batch_size
    if self.steps_per_epoch < 1:
      raise ConfigError(
        f"config.batch_size={batch_size} is larger than the training set "
        f"({self.num_examples} examples); lower it"
      )
    self.dataset, self.cfg, self.seed, self.batch_size = dataset, cfg, seed, batch_size
    self.rows = rows
    self._orders: dict[int, np.ndarray] = {}

  def _order(self, epoch: int) -> np.ndarray:
    if epoch not in self._orders:
      self._orders = {
        epoch: np.random.default_rng([self.seed, epoch, 0x7E7]).permutation(self.num_examples)
      }
    return self._orders[epoch]

  def batch(self, step: int) -> Batch:
    """The training batch of step ``step``: normalised, augmented ``image`` and ``label``."""
    epoch, k = divmod(step, self.steps_per_epoch)
    rows = self._order(epoch)[k * self.batch_size : (k + 1) * self.batch_size]
    rng = np.random.default_rng([self.seed, epoch, k, 0xA07])
    aug = self.cfg.augment
    images = augment(self.dataset.x_train[rows], rng, aug.crop_padding, aug.flip)
    images = normalize(images, self.dataset.name)
    if aug.cutout:
      images = cutout(images, rng, aug.cutout)
    return {"image": images[self.rows], "label": self.dataset.y_train[rows][self.rows]}

  # The test split reads the same way as a search's.
  eval_batches = SearchData.eval_batches


def data_config() -> ConfigDict:
  """The ``config.data`` block of a classification search (CIFAR-10 through tensorflow-datasets).

  Fields: ``source`` (``tfds`` or ``npz``), ``name`` (``cifar10``,
  ``cifar100``, ``svhn``), ``data_dir`` and ``download`` for tfds, ``path``
  for npz (environment variables expand), the weight/alpha ``split_policy``
  and ``split_ratio`` (:mod:`nasjax.data.split`), ``train_limit`` (first N
  training images; 0 = all), ``downsample`` (an integer factor: train and
  test images averaged over ``factor x factor`` blocks, e.g. 2 for 16x16
  CIFAR; 1 = native size), ``augment`` (``crop_padding``, ``flip``,
  ``cutout`` length, 0 = off).
  """
  return ConfigDict(
    dict(
      source="tfds",
      name="cifar10",
      data_dir="",
      download=True,
      path="$NASJAX_DATA_DIR/cifar10_subset.npz",
      split_policy="disjoint",
      split_ratio=0.5,
      train_limit=0,
      downsample=1,
      augment=ConfigDict(dict(crop_padding=4, flip=True, cutout=0)),
    )
  )


def validate_data(config: ConfigDict) -> None:
  """Checks ``config.data`` of a classification search, and its class count against the space's.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  d = config.data
  one_of(d.source, SOURCES, "config.data.source")
  if d.source == "tfds":
    check(
      d.name in NUM_CLASSES,
      f"config.data.name must be one of {sorted(NUM_CLASSES)}, got {d.name!r}",
    )
  if d.name in NUM_CLASSES:
    check(
      config.space.num_classes == NUM_CLASSES[d.name],
      f"config.space.num_classes={config.space.num_classes} but {d.name} has "
      f"{NUM_CLASSES[d.name]} classes; set --config.space.num_classes={NUM_CLASSES[d.name]}",
    )
  check_split(d.split_policy, d.split_ratio)  # the policy, the ratio and their combination
  non_negative(d.train_limit, "config.data.train_limit")
  factor = d.get("downsample", 1)
  check(
    is_int(factor) and factor >= 1,
    f"config.data.downsample must be an integer >= 1 (1 = native size), got {factor!r}",
  )
  non_negative(d.augment.crop_padding, "config.data.augment.crop_padding")
  non_negative(d.augment.cutout, "config.data.augment.cutout")


def search_data(config: ConfigDict, process_index: int = 0, process_count: int = 1) -> SearchData:
  """The search batches of a classification ``config``: its dataset, split into two halves.

  Raises:
    NasjaxError: for missing data, or a dataset whose class count is not the space's.
  """
  dataset = load_dataset(config.data)
  if dataset.num_classes != config.space.num_classes:
    raise ConfigError(
      f"config.space.num_classes={config.space.num_classes} but the dataset has "
      f"{dataset.num_classes} classes; set --config.space.num_classes={dataset.num_classes}"
    )
  return SearchData(
    dataset, config.data, config.seed, config.batch_size, process_index, process_count
  )
