"""Checks of data as it is read: readable files, image arrays and label arrays.

Every check raises :class:`~nasjax.errors.DataNotFoundError` with one
sentence that names the file (or source), what is wrong with it and how to
fix it, so that bad data stops a run before any training instead of failing
deep inside it (or, worse, not failing at all).

Example:
  >>> import numpy as np
  >>> check_labels(np.zeros(3, np.uint8), 4, "data.npz", "y_train")
  Traceback (most recent call last):
  ...
  nasjax.errors.DataNotFoundError: data.npz holds 3 labels for 4 images in y_train; every ...
"""

from __future__ import annotations

import contextlib
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from nasjax.errors import DataNotFoundError, NasjaxError

#: What reading a damaged, truncated or foreign file raises (numpy's, zipfile's and Pillow's
#: readers; Pillow reports a broken PNG chunk as a SyntaxError).
READ_ERRORS = (
  OSError,
  EOFError,
  ValueError,
  SyntaxError,
  RuntimeError,
  zipfile.BadZipFile,
  zlib.error,
  struct.error,
)
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


def _reason(error: BaseException) -> str:
  """``Type: first line of the message`` of an exception, for a one-line report."""
  text = str(error).splitlines()[0] if str(error) else ""
  return f"{type(error).__name__}: {text}" if text else type(error).__name__


def read_npz(file: Path, keys: Sequence[str], fix: str) -> dict[str, np.ndarray]:
  """The arrays ``keys`` of the ``.npz`` archive ``file``, read into memory.

  Args:
    file: an existing file.
    keys: the arrays it must hold.
    fix: how to write a good file, the end of every message (e.g. ``re-create it
      with np.savez(path, x=...)``).

  Raises:
    DataNotFoundError: the file is empty, not a zip archive, truncated or
      damaged, lacks one of ``keys``, or holds a pickled (object) array.
  """
  with open(file, "rb") as f:
    head = f.read(8)
  if not head:
    raise DataNotFoundError(f"cannot read {file} as a .npz file: it is empty (0 bytes); {fix}")
  if head.startswith(_NPY_MAGIC):
    raise DataNotFoundError(
      f"cannot read {file} as a .npz file: it is a .npy file holding a single array, not an "
      f"archive of named arrays; {fix}"
    )
  if not head.startswith(_ZIP_MAGIC):
    raise DataNotFoundError(
      f"cannot read {file} as a .npz file: it is not a zip archive (it starts with {head!r}); {fix}"
    )
  if not zipfile.is_zipfile(file):
    raise DataNotFoundError(
      f"cannot read {file} as a .npz file: its zip directory is missing, so the file is "
      f"truncated (an interrupted copy or download); copy it again or {fix}"
    )
  key = ""
  try:
    with np.load(file, allow_pickle=False) as archive:
      missing = [k for k in keys if k not in archive.files]
      if missing:
        raise DataNotFoundError(
          f"{file} lacks the array(s) {missing} (it holds {sorted(archive.files)}); it needs "
          f"{', '.join(keys)}, so {fix}"
        )
      arrays = {}
      for key in keys:
        arrays[key] = archive[key]
  except NasjaxError:
    raise
  except ValueError as e:
    if "allow_pickle" in str(e):
      raise DataNotFoundError(
        f"cannot read {file} as a .npz file: its array {key} holds Python objects (a pickled "
        f"object array), which nasjax does not load; store {key} as a numeric array"
      ) from None
    raise DataNotFoundError(
      f"cannot read {file} as a .npz file: its array {key} is damaged ({_reason(e)}); copy it "
      f"again or {fix}"
    ) from None
  except READ_ERRORS as e:
    where = f"its array {key} is damaged" if key else "the archive is damaged"
    raise DataNotFoundError(
      f"cannot read {file} as a .npz file: {where} ({_reason(e)}); copy it again or {fix}"
    ) from None
  return arrays


@contextlib.contextmanager
def image_file(path: Path, where: str, fix: str = "replace or remove it") -> Iterator[None]:
  """Reports an image file Pillow cannot decode (empty, truncated, damaged, not an image).

  Wrap the opening *and* the decoding (``np.asarray(im)``) of ``path``;
  errors nasjax raises inside pass through.

  Raises:
    DataNotFoundError: ``"{where}: cannot read {path} as an image (...); {fix}"``.
  """
  try:
    yield
  except NasjaxError:
    raise
  except READ_ERRORS as e:
    raise DataNotFoundError(
      f"{where}: cannot read {path} as an image ({_reason(e)}); {fix}"
    ) from None


def _size(shape: tuple[int, ...]) -> str:
  return "x".join(str(s) for s in shape)


def check_images(
  x: np.ndarray,
  source: str,
  key: str,
  channels: Sequence[int] = (3,),
  dtypes: Sequence[type] = (np.uint8,),
) -> None:
  """``x`` must be a non-empty ``(N, H, W, C)`` array of ``dtypes`` with ``C`` in ``channels``.

  Args:
    x: the images.
    source: the file (or dataset) they come from, first in the message.
    key: the array's name in ``source`` (``x_train``).
    channels: the channel counts the task takes.
    dtypes: the dtypes the task takes.

  Raises:
    DataNotFoundError: naming the array, its shape or dtype, and the fix.
  """
  kinds = " or ".join(np.dtype(d).name for d in dtypes)
  if x.ndim != 4:
    raise DataNotFoundError(
      f"{source} holds {key} of shape {x.shape}, not images; store them as a 4-D {kinds} "
      f"array (N, H, W, C)"
    )
  if not any(x.dtype == d for d in dtypes):
    raise DataNotFoundError(
      f"{source} holds {key} of dtype {x.dtype}; images must be {kinds} (pixels 0-255), so "
      f"convert them (e.g. np.round(x * 255).astype(np.uint8) for pixels in [0, 1])"
    )
  if not x.shape[0] or not x.shape[1] or not x.shape[2]:
    raise DataNotFoundError(
      f"{source} holds no image in {key} (shape {x.shape}); store at least one image"
    )
  if x.shape[3] not in channels:
    want = " or ".join(str(c) for c in channels)
    hint = ", e.g. np.repeat(x, 3, axis=-1) for greyscale" if 3 in channels else ""
    raise DataNotFoundError(
      f"{source} holds {_size(x.shape[1:])} images in {key} (H x W x C); this task needs {want} "
      f"channels, so store them as (N, H, W, {want}){hint}"
    )


def check_labels(
  y: np.ndarray,
  num_images: int,
  source: str,
  key: str,
  num_classes: int | None = None,
  classes_of: str = "",
) -> None:
  """``y`` must be a 1-D integer array of one label per image, each in ``[0, num_classes)``.

  Args:
    y: the labels.
    num_images: how many images they label.
    source: the file (or dataset) they come from, first in the message.
    key: the array's name in ``source`` (``y_train``).
    num_classes: the number of classes (None: no range check).
    classes_of: what sets ``num_classes`` and how to change it, for the
      message (``"cifar10's 10 classes; ..."``).

  Raises:
    DataNotFoundError: naming the array and what is wrong with it.
  """
  if y.ndim != 1:
    raise DataNotFoundError(
      f"{source} holds {key} of shape {y.shape}; labels must be a 1-D array of one class id "
      f"per image, so flatten it (y.reshape(-1))"
    )
  if not np.issubdtype(y.dtype, np.integer):
    raise DataNotFoundError(
      f"{source} holds {key} of dtype {y.dtype}; labels must be integer class ids, so store "
      f"them as an integer array"
    )
  if len(y) != num_images:
    raise DataNotFoundError(
      f"{source} holds {len(y)} labels for {num_images} images in {key}; every image needs one "
      f"label, so store one label per image"
    )
  if num_classes is None or not len(y):
    return
  low, high = int(y.min()), int(y.max())
  if low < 0 or high >= num_classes:
    bad = low if low < 0 else high
    raise DataNotFoundError(
      f"{source} holds label {bad} in {key}, outside [0, {num_classes}) for {classes_of}"
    )


def check_same_size(
  train: np.ndarray, test: np.ndarray, source: str, keys: tuple[str, str] = ("x_train", "x_test")
) -> None:
  """The training and test images must have one height, width and channel count.

  Raises:
    DataNotFoundError: naming both sizes.
  """
  if train.shape[1:] != test.shape[1:]:
    raise DataNotFoundError(
      f"{source} holds {_size(train.shape[1:])} images in {keys[0]} but "
      f"{_size(test.shape[1:])} images in {keys[1]}; a network takes one input size, so "
      f"resize one set to the other's size"
    )


#: Pillow modes of more than 8 bits per channel, which a conversion to RGB clips at 255.
WIDE_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N", "RGB;16", "RGBA;16")


def check_8bit(mode: str, path: Path, where: str) -> None:
  """An image read as uint8 must have 8 bits per channel (Pillow's ``mode``).

  Raises:
    DataNotFoundError: for a 16-bit or float image, which would be clipped.
  """
  if mode in WIDE_MODES:
    raise DataNotFoundError(
      f"{where}: {path} is a {mode} image (more than 8 bits per channel), which would be "
      f"clipped to 255; save it as an 8-bit RGB or greyscale image"
    )
