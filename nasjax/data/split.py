"""Search data: image sources, the weight/alpha split, augmentation and batches.

Sources (``config.data.source``):

* ``tfds`` -- CIFAR-10 / CIFAR-100 / SVHN through tensorflow-datasets, from
  ``config.data.data_dir``. A dataset prepared in the ``array_record`` format
  is read without TensorFlow (images decoded with Pillow); one prepared as
  TFRecords (tfds' default) is read through ``tfds.load``, which needs
  ``tensorflow``.
* ``npz`` -- a ``.npz`` file with ``x_train, y_train, x_test, y_test``
  (uint8 NHWC images, integer labels), e.g. ``cifar10_subset.npz``.

Split policies (``config.data.split_policy``; arXiv 2405.16610, Fig. 4,
compares training w and alpha on disjoint halves with training both on one
shared set):

* ``disjoint`` (default) -- DARTS' fixed seeded 50/50 cut: one half trains
  the weights, the other alpha (``split_ratio`` must stay 0.5).
* ``ratio`` -- a fixed seeded disjoint cut, the weight part holding
  ``round(n * split_ratio)`` examples.
* ``shared`` -- both draw from the whole training set, each in its own
  per-epoch order, so a step's two batches generally differ.
* ``reshuffle`` -- a fresh seeded disjoint cut at ``split_ratio`` every epoch
  (epoch 0 uses the fixed cut of ``ratio``): within an epoch the parts are
  disjoint, over the run every example serves both roles.

The search reads batches as a pure function of ``(seed, step)``: the split
of the training set into the weight and alpha parts in each epoch, each
part's order in an epoch and every augmentation draw are derived from the
seed, the epoch and the step. Resuming at a step therefore needs no iterator
state, and the global batch does not depend on the number of processes:
process ``p`` of ``P`` takes rows ``[p B/P, (p+1) B/P)``. :class:`TrainData`
reads the whole training set the same way for retraining a derived network.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

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
SPLIT_POLICIES = ("disjoint", "ratio", "shared", "reshuffle")

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """A labelled image dataset held in memory (uint8 NHWC images)."""

  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int


def _expand(path: str) -> Path:
  return Path(os.path.expandvars(os.path.expanduser(path)))


def expand_path(path: str, field: str) -> Path:
  """``path`` with ``~`` and ``$VARS`` expanded.

  Raises:
    DataNotFoundError: naming ``field`` when a variable is unset.
  """
  folder = _expand(path)
  if "$" in str(folder):
    raise DataNotFoundError(
      f"{field} {path!r} names an unset environment variable; set it (e.g. "
      f"NASJAX_DATA_DIR=/path/to/shared/data) or give the full path"
    )
  return folder


def load_npz(path: str, name: str = "cifar10") -> ImageDataset:
  """Reads ``x_train, y_train, x_test, y_test`` from a ``.npz`` file."""
  file = _expand(path)
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


def tfds_records(
  name: str, split: str, data_dir: str | None, download: bool, limit: int = 0
) -> list[dict[str, Any]]:
  """The first ``limit`` (0: all) examples of a tfds split as numpy dicts.

  Reads array_record datasets by random access, without TensorFlow;
  TFRecord datasets need TensorFlow.

  Raises:
    FileNotFoundError: the dataset is not prepared (and ``download`` is off).
    DataNotFoundError: it is prepared as TFRecords and TensorFlow is missing.
  """
  import tensorflow_datasets as tfds

  try:
    source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    n = min(len(source), limit) if limit else len(source)
    return [source[i] for i in range(n)]
  except NotImplementedError:  # no random access: absent, or prepared as TFRecords
    if not tfds.builder(name, data_dir=data_dir).is_prepared():
      raise FileNotFoundError(f"no prepared {name} dataset") from None
  try:
    import tensorflow  # noqa: F401
  except ImportError:
    raise DataNotFoundError(
      f"{name} in {data_dir or 'the default tfds folder'} is prepared as TFRecords, which "
      f"need tensorflow to read: pip install tensorflow, or prepare it once as array_record "
      f"(`tfds build {name} --file_format=array_record`, with TensorFlow), which reads "
      f"without it"
    ) from None
  ds = tfds.load(name, split=f"{split}[:{limit}]" if limit else split, data_dir=data_dir)
  return list(tfds.as_numpy(ds))


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
  folder = str(_expand(data_dir)) if data_dir else None
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


def process_rows(batch_size: int, process_index: int, process_count: int) -> slice:
  """This process's rows of every global batch of ``batch_size``.

  Raises:
    ConfigError: when the batch cannot be shared equally by the processes.
  """
  if batch_size % process_count:
    raise ConfigError(
      f"config.batch_size={batch_size} must be divisible by the number of "
      f"processes ({process_count})"
    )
  share = batch_size // process_count
  return slice(process_index * share, (process_index + 1) * share)


def check_split(policy: str, ratio: float) -> None:
  """Raises ConfigError unless ``(split_policy, split_ratio)`` is a valid pair.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  if policy not in SPLIT_POLICIES:
    raise ConfigError(
      f"config.data.split_policy must be one of {list(SPLIT_POLICIES)}, got {policy!r}"
    )
  if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0:
    raise ConfigError(f"config.data.split_ratio must be a number in (0, 1), got {ratio!r}")
  if policy == "disjoint" and ratio != 0.5:
    raise ConfigError(
      f"config.data.split_ratio={ratio} needs config.data.split_policy='ratio' (or "
      f"'reshuffle'); the 'disjoint' policy is the fixed 50/50 cut"
    )
  if policy == "shared" and ratio != 0.5:
    raise ConfigError(
      f"config.data.split_ratio={ratio} has no effect with config.data.split_policy='shared' "
      f"(both streams read the whole set); leave it at 0.5 or use split_policy='ratio'"
    )


def split_indices(
  n: int, seed: int, policy: str = "disjoint", ratio: float = 0.5, epoch: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  """Indices (sorted) of the weight part and the alpha part of ``n`` training examples in ``epoch``.

  ``disjoint`` and ``ratio``: one seeded permutation cut after its first
  ``round(n * ratio)`` entries, the same in every epoch. ``shared``: every
  index in both parts. ``reshuffle``: the ``ratio`` cut in epoch 0 and a
  fresh seeded cut of the same sizes in every later epoch. The two parts of
  a disjoint policy never share an example.

  Args:
    n: the number of training examples.
    seed: the search seed.
    policy: one of :data:`SPLIT_POLICIES`.
    ratio: the weight part's share of the examples.
    epoch: the epoch (only ``reshuffle`` depends on it).

  Returns:
    ``(weight_indices, alpha_indices)``.

  Example:
    >>> w, a = split_indices(10, seed=0, policy="ratio", ratio=0.3)
    >>> len(w), len(a), bool(set(w) & set(a))
    (3, 7, False)
  """
  check_split(policy, ratio)
  if policy == "shared":
    every = np.arange(n)
    return every, every.copy()
  key = [seed, 0x5B1] if policy != "reshuffle" or epoch == 0 else [seed, 0x5B1, epoch]
  perm = np.random.default_rng(key).permutation(n)
  cut = int(round(n * ratio))
  return np.sort(perm[:cut]), np.sort(perm[cut:])


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


def normalize(images: np.ndarray, name: str) -> np.ndarray:
  """uint8 images to float32 with the dataset's per-channel mean and std."""
  mean, std = NORMALIZATION.get(name, NORMALIZATION["cifar10"])
  x = images.astype(np.float32) / 255.0
  return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


class SearchData:
  """Training batches for a bilevel search, as a pure function of the step.

  Args:
    dataset: the images.
    cfg: ``config.data``.
    seed: the search seed.
    batch_size: the global batch size of each half.
    process_index, process_count: this process's share of every batch.
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

  def batches(self, start: int, stop: int, prefetch: int = 2) -> Iterator[tuple[Batch, Batch]]:
    """Batches of steps ``start..stop-1``, prepared ``prefetch`` steps ahead in a thread."""
    q: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    done = threading.Event()

    def produce():
      try:
        for step in range(start, stop):
          if done.is_set():
            return
          q.put(self.batch(step))
      except BaseException as e:  # surfaced in the consumer
        q.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
      for _ in range(start, stop):
        item = q.get()
        if isinstance(item, BaseException):
          raise item
        yield item
    finally:
      done.set()

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


class ImageSplit:
  """The weight and alpha parts of a search over a list of images (SR, segmentation).

  Subclasses set ``num_examples``, ``seed`` and ``cfg`` (``config.data``),
  then call :meth:`_split_images`.
  """

  num_examples: int
  seed: int
  cfg: Any

  def _split_images(self) -> None:
    """Sets ``weight_idx`` and ``alpha_idx`` (epoch 0) by ``cfg.split_policy``.

    Raises:
      ConfigError: for a policy the number of images cannot satisfy.
    """
    cfg, n = self.cfg, self.num_examples
    if cfg.split_policy != "shared" and n < 2:
      raise ConfigError(
        f"split_policy={cfg.split_policy!r} needs at least 2 training images, got {n}; add "
        f"images or use config.data.split_policy='shared'"
      )
    self.weight_idx, self.alpha_idx = split_indices(n, self.seed, cfg.split_policy, cfg.split_ratio)
    if not len(self.weight_idx) or not len(self.alpha_idx):
      raise ConfigError(
        f"config.data.split_ratio={cfg.split_ratio} leaves a part of the {n} training images "
        f"empty; move it towards 0.5"
      )

  def split(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(weight_idx, alpha_idx)``: the training images of each part in ``epoch``."""
    if epoch == 0 or self.cfg.split_policy != "reshuffle":
      return self.weight_idx, self.alpha_idx
    return split_indices(
      self.num_examples, self.seed, self.cfg.split_policy, self.cfg.split_ratio, epoch
    )


def make_search_data(config: Any, process_index: int = 0, process_count: int = 1) -> Any:
  """The search batches of ``config``: :class:`SearchData`, or the SR / segmentation batches.

  A super-resolution space (``SearchSpace.task``) reads ``config.data`` as
  :func:`nasjax.tasks.super_resolution.data.sr_data_config` describes and gets
  :class:`nasjax.tasks.super_resolution.data.SRSearchData`; a segmentation space reads it as
  :func:`nasjax.tasks.segmentation.data.seg_data_config` and gets
  :class:`nasjax.tasks.segmentation.data.SegSearchData`; the others load a classification
  dataset (:func:`load_dataset`) whose class count must match the space's.

  Raises:
    NasjaxError: for missing data or a config that does not fit it.
  """
  from nasjax.spaces.registry import get_space

  task = get_space(config.space.name).task
  if task == "segmentation":
    from nasjax.tasks.segmentation import data as seg_data

    train, test = seg_data.load_seg_dataset(config.data)
    return seg_data.SegSearchData(
      train, config.data, config.seed, config.batch_size, process_index, process_count, test=test
    )
  if task == "super_resolution":
    from nasjax.tasks.super_resolution import data as sr_data

    train, test = sr_data.load_sr_dataset(config.data)
    return sr_data.SRSearchData(
      train, config.data, config.seed, config.batch_size, process_index, process_count, test=test
    )
  dataset = load_dataset(config.data)
  if dataset.num_classes != config.space.num_classes:
    raise ConfigError(
      f"config.space.num_classes={config.space.num_classes} but the dataset has "
      f"{dataset.num_classes} classes; set --config.space.num_classes={dataset.num_classes}"
    )
  return SearchData(
    dataset, config.data, config.seed, config.batch_size, process_index, process_count
  )


class TrainData:
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
    process_index, process_count: this process's share of every batch.
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

  # The prefetching iterator and the test split read the same way as a search's.
  batches = SearchData.batches
  eval_batches = SearchData.eval_batches
