"""Where data lives: paths with environment variables, and tensorflow-datasets records."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nasjax.errors import DataNotFoundError


def expand(path: str) -> Path:
  """``path`` with ``~`` and ``$VARS`` expanded (unset variables stay as written)."""
  return Path(os.path.expandvars(os.path.expanduser(path)))


def expand_path(path: str, field: str) -> Path:
  """``path`` with ``~`` and ``$VARS`` expanded.

  Raises:
    DataNotFoundError: naming ``field`` when a variable is unset.
  """
  folder = expand(path)
  if "$" in str(folder):
    raise DataNotFoundError(
      f"{field} {path!r} names an unset environment variable; set it (e.g. "
      f"NASJAX_DATA_DIR=/path/to/shared/data) or give the full path"
    )
  return folder


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
