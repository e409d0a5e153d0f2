"""The ImageNet (ILSVRC 2012) input pipeline of a retrain, without TensorFlow.

Images come from tensorflow-datasets' ``imagenet2012``, which needs a
manual download: put ``ILSVRC2012_img_train.tar`` and
``ILSVRC2012_img_val.tar`` into a folder ``M`` and prepare the dataset once,
in the random-access ``array_record`` format::

  tfds build imagenet2012 --data_dir=DIR --manual_dir=M --file_format=array_record

then set ``config.data.data_dir=DIR``. The prepared folder is read through
``tfds.data_source`` (random access, no TensorFlow), images are decoded and
augmented with Pillow and numpy in a pool of ``config.data.workers``
threads, and batches are prepared ahead in a background thread.

Training augmentation is DARTS' ImageNet recipe: a random resized crop
(area in [``min_scale``, 1] of the image, aspect ratio in [3/4, 4/3], 10
tries, else a centre crop; bilinear resize to ``image_size``), a horizontal
flip, and colour jitter (brightness, contrast and saturation factors drawn
from [1 - s, 1 + s], a hue shift from [-h, h], applied in a random order).
Evaluation resizes the shorter side to ``eval_resize`` and takes the centre
``image_size`` crop. Like :class:`nasjax.tasks.classification.data.TrainData`, a batch is a pure
function of ``(seed, step)``: each example's crop, flip and jitter are drawn
from ``(seed, epoch, step, position in the global batch)``, so resuming
needs no iterator state and the images do not depend on the process count.

The transforms are tested on real images; reading a prepared
``imagenet2012`` folder is tested on a folder that tfds' own builder writes
from a handful of real images (no ImageNet files are available to the tests).
"""

from __future__ import annotations

import concurrent.futures
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

from nasjax.data.batches import StepBatches, process_rows
from nasjax.errors import ConfigError, DataNotFoundError

TFDS_NAME = "imagenet2012"
#: Per-channel mean and standard deviation of ImageNet images in [0, 1].
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

Batch = dict[str, np.ndarray]
Record = Any  # a mapping with 'image' (uint8 HWC array or encoded bytes) and 'label'


def to_pil(image: Any) -> Image.Image:
  """An RGB Pillow image from a uint8 array (HW or HWC) or encoded (JPEG/PNG) bytes."""
  if isinstance(image, (bytes, bytearray, np.bytes_)):
    with Image.open(io.BytesIO(bytes(image))) as opened:
      return opened.convert("RGB")
  array = np.asarray(image)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  return Image.fromarray(array.astype(np.uint8)).convert("RGB")


def random_resized_crop_box(
  width: int,
  height: int,
  rng: np.random.Generator,
  scale: tuple[float, float] = (0.08, 1.0),
  ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
  """The ``(left, top, width, height)`` of a random resized crop.

  Area uniform in ``scale`` times the image's, log aspect ratio uniform in
  ``log(ratio)``; up to 10 tries, else the largest centre crop whose aspect
  ratio is within ``ratio``.
  """
  area = width * height
  log_lo, log_hi = np.log(ratio[0]), np.log(ratio[1])
  for _ in range(10):
    target = area * rng.uniform(scale[0], scale[1])
    aspect = np.exp(rng.uniform(log_lo, log_hi))
    w = int(round(np.sqrt(target * aspect)))
    h = int(round(np.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
  in_ratio = width / height
  if in_ratio < ratio[0]:
    w, h = width, int(round(width / ratio[0]))
  elif in_ratio > ratio[1]:
    w, h = int(round(height * ratio[1])), height
  else:
    w, h = width, height
  return (width - w) // 2, (height - h) // 2, w, h


def random_resized_crop(
  image: Image.Image, rng: np.random.Generator, size: int, min_scale: float = 0.08
) -> Image.Image:
  """A random crop (see :func:`random_resized_crop_box`) resized bilinearly to ``size x size``."""
  left, top, w, h = random_resized_crop_box(image.width, image.height, rng, (min_scale, 1.0))
  return image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))


def random_flip(image: Image.Image, rng: np.random.Generator) -> Image.Image:
  """Mirrors left-right with probability 1/2."""
  return image.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


def sample_color_jitter(
  rng: np.random.Generator,
  brightness: float = 0.0,
  contrast: float = 0.0,
  saturation: float = 0.0,
  hue: float = 0.0,
) -> list[tuple[str, float]]:
  """The colour jitter of one image: ``[(transform, factor), ...]`` in the order to apply.

  Brightness, contrast and saturation factors are uniform in
  ``[max(0, 1 - s), 1 + s]``, the hue shift uniform in ``[-hue, hue]`` (in
  turns of the colour wheel); a transform whose strength is 0 is left out.
  """
  steps = []
  for name, strength in (("brightness", brightness), ("contrast", contrast)):
    if strength:
      steps.append((name, float(rng.uniform(max(0.0, 1 - strength), 1 + strength))))
  if saturation:
    steps.append(("saturation", float(rng.uniform(max(0.0, 1 - saturation), 1 + saturation))))
  if hue:
    steps.append(("hue", float(rng.uniform(-hue, hue))))
  return [steps[i] for i in rng.permutation(len(steps))]


def adjust_hue(image: Image.Image, shift: float) -> Image.Image:
  """Rotates the hue by ``shift`` turns (in HSV, hue stored in 0..255, wrapping)."""
  h, s, v = image.convert("HSV").split()
  hue = np.asarray(h, np.uint8)
  hue = (hue.astype(np.int16) + int(round(shift * 255))) % 256
  return Image.merge("HSV", (Image.fromarray(hue.astype(np.uint8), "L"), s, v)).convert("RGB")


def apply_color_jitter(image: Image.Image, steps: Sequence[tuple[str, float]]) -> Image.Image:
  """Applies :func:`sample_color_jitter`'s transforms in order.

  Brightness scales the pixels, contrast blends with the mean grey level,
  saturation blends with the grey image (Pillow's ``ImageEnhance``), hue
  rotates the colour wheel (:func:`adjust_hue`).
  """
  enhancers = {
    "brightness": ImageEnhance.Brightness,
    "contrast": ImageEnhance.Contrast,
    "saturation": ImageEnhance.Color,
  }
  for name, factor in steps:
    image = adjust_hue(image, factor) if name == "hue" else enhancers[name](image).enhance(factor)
  return image


def resize_center_crop(image: Image.Image, resize: int, crop: int) -> Image.Image:
  """Resizes the shorter side to ``resize`` (bilinear), then takes the centre ``crop x crop``."""
  w, h = image.size
  if resize:
    if w <= h:
      w, h = resize, int(resize * h / w)
    else:
      w, h = int(resize * w / h), resize
    image = image.resize((w, h), Image.BILINEAR)
  top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
  return image.crop((left, top, left + crop, top + crop))


def normalize(image: Image.Image) -> np.ndarray:
  """A float32 HWC array with ImageNet's per-channel mean and std."""
  x = np.asarray(image, np.float32) / 255.0
  return (x - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)


def train_image(image: Any, rng: np.random.Generator, cfg: Any) -> np.ndarray:
  """One augmented, normalised training example (``cfg`` = ``config.data``)."""
  image, aug = to_pil(image), cfg.augment
  if aug.random_resized_crop:
    image = random_resized_crop(image, rng, cfg.image_size, aug.min_scale)
  else:
    image = resize_center_crop(image, cfg.eval_resize, cfg.image_size)
  if aug.flip:
    image = random_flip(image, rng)
  jitter = aug.color_jitter
  steps = sample_color_jitter(
    rng, jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue
  )
  return normalize(apply_color_jitter(image, steps))


def eval_image(image: Any, cfg: Any) -> np.ndarray:
  """One evaluation example: resize, centre crop, normalise."""
  return normalize(resize_center_crop(to_pil(image), cfg.eval_resize, cfg.image_size))


def load_split(split: str, data_dir: str = "") -> Sequence[Record]:
  """A random-access view of a prepared ``imagenet2012`` split (``train`` or ``validation``).

  Raises:
    DataNotFoundError: when the folder holds no ``array_record`` copy, saying how to prepare it.
  """
  import tensorflow_datasets as tfds

  folder = os.path.expandvars(os.path.expanduser(data_dir)) if data_dir else None
  where = folder or "the default tfds folder"
  try:
    return tfds.data_source(TFDS_NAME, split=split, data_dir=folder, download=False)
  except Exception as e:  # tfds raises assorted errors for absent or TFRecord data
    prepared = (
      isinstance(e, NotImplementedError) and tfds.builder(TFDS_NAME, data_dir=folder).is_prepared()
    )
    why = (
      "is prepared as TFRecords, which nasjax does not read"
      if prepared
      else f"is not prepared there ({type(e).__name__})"
    )
  raise DataNotFoundError(
    f"{TFDS_NAME} in {where} {why}; put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
    f"in a folder M and run `tfds build {TFDS_NAME} --data_dir=DIR --manual_dir=M "
    f"--file_format=array_record`, then set config.data.data_dir=DIR"
  )


class ImageNetData(StepBatches):
  """ImageNet batches as a pure function of the step (the interface of ``TrainData``).

  Args:
    train_source: a random-access sequence of records with an ``image``
      (uint8 array or encoded bytes) and a ``label`` (:func:`load_split`
      gives tfds' ``train``).
    eval_source: the same for evaluation (tfds' ``validation``).
    cfg: ``config.data`` of a retrain config.
    seed: the run's seed.
    batch_size: the global batch size.
    process_index: this process's index; it decodes only its share of every batch.
    process_count: the number of processes sharing every batch.
  """

  def __init__(
    self,
    train_source: Sequence[Record],
    eval_source: Sequence[Record],
    cfg: Any,
    seed: int,
    batch_size: int,
    process_index: int = 0,
    process_count: int = 1,
  ):
    rows = process_rows(batch_size, process_index, process_count)
    self.train_source, self.eval_source = train_source, eval_source
    self.cfg, self.seed, self.batch_size = cfg, seed, batch_size
    n = len(train_source)
    self.num_examples = min(n, cfg.train_limit) if cfg.train_limit else n
    self.steps_per_epoch = self.num_examples // batch_size
    if self.steps_per_epoch < 1:
      raise ConfigError(
        f"config.batch_size={batch_size} is larger than the training set "
        f"({self.num_examples} examples); lower it"
      )
    self.positions = range(rows.start, rows.stop)
    self._pool = concurrent.futures.ThreadPoolExecutor(cfg.workers)
    self._orders: dict[int, np.ndarray] = {}

  @classmethod
  def from_config(
    cls, cfg: Any, seed: int, batch_size: int, process_index: int = 0, process_count: int = 1
  ) -> ImageNetData:
    """The prepared tfds folder ``cfg.data_dir`` (``config.data``)."""
    train, val = load_split("train", cfg.data_dir), load_split("validation", cfg.data_dir)
    return cls(train, val, cfg, seed, batch_size, process_index, process_count)

  def _order(self, epoch: int) -> np.ndarray:
    if epoch not in self._orders:
      rng = np.random.default_rng([self.seed, epoch, 0x7E7])
      self._orders = {epoch: rng.permutation(self.num_examples)}
    return self._orders[epoch]

  def _train_example(self, epoch: int, k: int, position: int, index: int) -> tuple[Any, int]:
    record = self.train_source[int(index)]
    rng = np.random.default_rng([self.seed, epoch, k, position, 0xA08])
    return train_image(record["image"], rng, self.cfg), int(record["label"])

  def batch(self, step: int) -> Batch:
    """This process's rows of the training batch of step ``step``."""
    epoch, k = divmod(step, self.steps_per_epoch)
    rows = self._order(epoch)[k * self.batch_size : (k + 1) * self.batch_size]
    jobs = [self._pool.submit(self._train_example, epoch, k, p, rows[p]) for p in self.positions]
    examples = [job.result() for job in jobs]
    return {
      "image": np.stack([x for x, _ in examples]),
      "label": np.array([y for _, y in examples], np.int32),
    }

  def _eval_example(self, index: int) -> tuple[np.ndarray, int]:
    record = self.eval_source[int(index)]
    return eval_image(record["image"], self.cfg), int(record["label"])

  def eval_batches(self, batch_size: int, limit: int = 0) -> Iterator[Batch]:
    """The validation split in fixed-size batches, with a ``weight`` of 1 per real example.

    The last batch is filled up from the start of the split at weight 0 (one
    shape, one compile).
    """
    n = min(len(self.eval_source), limit) if limit else len(self.eval_source)
    for start in range(0, n, batch_size):
      rows = np.arange(start, start + batch_size) % n
      examples = list(self._pool.map(self._eval_example, rows))
      yield {
        "image": np.stack([x for x, _ in examples]),
        "label": np.array([y for _, y in examples], np.int32),
        "weight": (np.arange(start, start + batch_size) < n).astype(np.float32),
      }
