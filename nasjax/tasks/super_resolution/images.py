"""Super-resolution image sets: HR/LR pairs from folders of PNGs or from DIV2K (tfds).

Greyscale images are replicated to three channels; each HR image is cropped
to a multiple of the scale and its LR image is MATLAB's bicubic downsample
(:mod:`nasjax.tasks.super_resolution.imresize`), except DIV2K's, whose own bicubic LR images are
used. The batches built from them are in :mod:`nasjax.tasks.super_resolution.data`.

Example:
  >>> import numpy as np
  >>> pair = pairs_from_hr([np.zeros((13, 10, 3), np.uint8)], ['black'], scale=2)
  >>> pair.hr[0].shape, pair.lr[0].shape
  ((12, 10, 3), (6, 5, 3))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nasjax.data import checks
from nasjax.data.files import expand_path, tfds_records
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.super_resolution.imresize import crop_to_multiple, downsample

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclasses.dataclass
class SRImages:
  """Pairs of HR and LR uint8 HxWx3 images of one scale.

  Each ``hr[i]`` is ``scale`` times ``lr[i]`` in both sides (already cropped).
  """

  hr: list[np.ndarray]
  lr: list[np.ndarray]
  names: list[str]
  scale: int

  def __post_init__(self) -> None:
    counts = (len(self.hr), len(self.lr), len(self.names))
    if len(set(counts)) != 1:
      raise DataNotFoundError(
        f"an SR image set holds {counts[0]} HR images, {counts[1]} LR images and {counts[2]} "
        f"names; give every HR image one LR image and one name"
      )
    s = self.scale
    for name, hr, lr in zip(self.names, self.hr, self.lr, strict=True):
      if hr.shape[:2] != (s * lr.shape[0], s * lr.shape[1]) or not lr.size:
        raise DataNotFoundError(
          f"SR image {name}: its HR image is {hr.shape[0]}x{hr.shape[1]} but its LR image "
          f"{lr.shape[0]}x{lr.shape[1]}, not {s} times smaller; pair every HR image with its "
          f"x{s} LR image (or check config.data.scale)"
        )

  def __len__(self) -> int:
    return len(self.hr)


def _rgb(image: np.ndarray) -> np.ndarray:
  if image.ndim == 2:
    image = image[:, :, None]
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  return np.ascontiguousarray(image[..., :3], dtype=np.uint8)


def pairs_from_hr(hr_images: list[np.ndarray], names: list[str], scale: int) -> SRImages:
  """HR images (any size, greyscale or RGB) cropped to multiples of ``scale``, with bicubic LR."""
  hr = [crop_to_multiple(_rgb(im), scale) for im in hr_images]
  return SRImages(hr, [downsample(im, scale) for im in hr], list(names), scale)


def load_folder(
  path: str, scale: int, limit: int = 0, field: str = "config.data.train_dir"
) -> SRImages:
  """A folder's HR images (sorted by name; the first ``limit`` if set) and their LR images.

  Args:
    path: the folder; ``$VARS`` and ``~`` are expanded.
    scale: the SR scale factor.
    limit: read only the first ``limit`` images (0: all).
    field: the config field that named the folder, for error messages.

  Raises:
    DataNotFoundError: the folder is missing, unreadable or holds no image,
      or an image is unreadable, more than 8 bits deep, or smaller than ``scale``.
  """
  from PIL import Image

  folder = expand_path(path, field)
  if not folder.is_dir():
    what = "is a file, not a folder" if folder.exists() else "not found"
    raise DataNotFoundError(
      f"{field}={path!r}: folder {folder} {what}; point it at a folder of HR images "
      f"(e.g. $NASJAX_DATA_DIR/sr/Set5)"
    )
  try:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
  except OSError as e:
    raise DataNotFoundError(
      f"{field}={path!r}: cannot list folder {folder} ({type(e).__name__}: {e.strerror or e}); "
      f"make it readable"
    ) from None
  if not files:
    raise DataNotFoundError(
      f"{field}={path!r}: {folder} holds no image ({', '.join(IMAGE_SUFFIXES)}); point it at a "
      f"folder of HR images"
    )
  if limit:
    files = files[:limit]
  images = []
  for f in files:
    where = f"{field}={path!r}"
    with checks.image_file(f, where, f"replace it or remove it from {folder}"), Image.open(f) as im:
      checks.check_8bit(im.mode, f, where)
      images.append(np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im))
    if min(images[-1].shape[:2]) < scale:
      raise DataNotFoundError(
        f"{field}={path!r}: {f} is {images[-1].shape[0]}x{images[-1].shape[1]} pixels, smaller "
        f"than the scale {scale}; remove it from {folder}"
      )
  return pairs_from_hr(images, [f.stem for f in files], scale)


def load_test_sets(dirs: list[str], scale: int) -> dict[str, SRImages]:
  """Each folder's images (:func:`load_folder`), keyed by the folder's name (``Set5``, ...).

  A folder named ``HR`` (the ``benchmark/Set5/HR`` layout) is keyed by its parent's name.
  """
  sets = {}
  for d in dirs:
    folder = expand_path(d, "test folder")
    name = folder.parent.name if folder.name.lower() == "hr" else folder.name
    if name in sets:
      raise ConfigError(f"two test folders are both named {name!r}; pass each set once")
    sets[name] = load_folder(d, scale, field="test folder")
  return sets


def load_div2k(
  scale: int, split: str = "train", data_dir: str = "", download: bool = False, limit: int = 0
) -> SRImages:
  """DIV2K's HR images and bicubic LR images (``div2k/bicubic_x{scale}``) from tensorflow-datasets.

  Args:
    scale: 2, 3 or 4.
    split: ``'train'`` (800 images) or ``'validation'`` (100).
    data_dir: the tfds data folder ('' for tfds' default).
    download: let tfds download and prepare the dataset (several GB).
    limit: read only the first ``limit`` images (0: all).

  Raises:
    DataNotFoundError: the dataset is not prepared in ``data_dir`` (and
      ``download`` is off), saying how to get it.
  """
  if split not in ("train", "validation"):
    raise ConfigError(f"DIV2K has the splits 'train' and 'validation', got {split!r}")
  name = f"div2k/bicubic_x{scale}"
  folder = str(expand_path(data_dir, "config.data.data_dir")) if data_dir else None
  try:
    records = tfds_records(name, split, folder, download, limit)
  except DataNotFoundError:
    raise
  except Exception as e:  # tfds raises assorted errors for a missing or partial dataset
    raise DataNotFoundError(
      f"{name} is not available from tensorflow-datasets in "
      f"{folder or 'the default data folder'} ({type(e).__name__}: {str(e).splitlines()[0]}); "
      f"set --config.data.download=True on a connected machine, or prepare it with "
      f"`tfds build {name} --data_dir=DIR` and set config.data.data_dir=DIR"
    ) from None
  hr, lr = [], []
  for r in records:
    low = _rgb(np.asarray(r["lr"]))
    hr.append(_rgb(np.asarray(r["hr"]))[: scale * low.shape[0], : scale * low.shape[1]])
    lr.append(low)
  names = [f"div2k_{split}_{i:04d}" for i in range(len(records))]
  return SRImages(hr, lr, names, scale)
