"""Where data lives: the data folder, paths with variables, and tensorflow-datasets records.

Config paths name the data folder as ``$NASJAX_DATA_DIR``. It resolves, in
order, to: the ``NASJAX_DATA_DIR`` environment variable when it is set; the ``shared/data``
folder beside a nasjax checkout (``../shared/data`` from the repository);
the per-user folder ``~/.cache/nasjax/data``. A path that names it when
none exists fails with the places tried (the full datasets then come from
tensorflow-datasets' own folders, ``config.data.source = 'tfds'``).

Example:
  >>> import os
  >>> os.environ["NASJAX_DATA_DIR"] = "/data/nas"
  >>> str(expand("$NASJAX_DATA_DIR/cifar10_subset.npz"))
  '/data/nas/cifar10_subset.npz'
  >>> del os.environ["NASJAX_DATA_DIR"]
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from nasjax.errors import DataNotFoundError

#: The environment variable naming the data folder.
DATA_DIR_ENV = "NASJAX_DATA_DIR"
#: The data folder beside a checkout of the repository (``<repo>/../shared/data``).
CHECKOUT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: The per-user data folder.
USER_DATA_DIR = Path("~/.cache/nasjax/data")

_DATA_VAR = re.compile(r"\$(\{NASJAX_DATA_DIR\}|NASJAX_DATA_DIR\b)")


def data_dir_candidates() -> list[tuple[str, Path | None]]:
  """The places the data folder may be, in order: ``(how it is named, the folder)``."""
  env = os.environ.get(DATA_DIR_ENV)
  return [
    (f"${DATA_DIR_ENV}", Path(env).expanduser() if env else None),
    ("the data folder beside the checkout", CHECKOUT_DATA_DIR),
    ("the per-user folder", USER_DATA_DIR.expanduser()),
  ]


def data_dir() -> Path | None:
  """The data folder: ``$NASJAX_DATA_DIR`` when set, else the first existing other place, or None.

  A set variable wins even when its folder is missing, so that the error
  names the folder the user chose.
  """
  (_, chosen), *others = data_dir_candidates()
  if chosen is not None:
    return chosen
  return next((folder for _, folder in others if folder is not None and folder.is_dir()), None)


def places_tried() -> str:
  """Where :func:`data_dir` looked, for a message."""
  return "; ".join(
    f"{name} ({'unset' if folder is None else f'{folder}: missing'})"
    for name, folder in data_dir_candidates()
  )


def expand(path: str) -> Path:
  """``path`` with ``~``, the data folder and ``$VARS`` expanded (unset variables stay)."""
  path = str(path)
  if _DATA_VAR.search(path):
    folder = data_dir()
    if folder is not None:
      path = _DATA_VAR.sub(lambda _: str(folder), path)
  return Path(os.path.expandvars(os.path.expanduser(path)))


def expand_path(path: str, field: str) -> Path:
  """``path`` with ``~``, the data folder and ``$VARS`` expanded.

  Raises:
    DataNotFoundError: naming ``field`` and the places tried when a variable
      is unset (for the data folder: when none of its places exists).
  """
  folder = expand(path)
  if "$" in str(folder):
    raise DataNotFoundError(unset_message(field, path))
  return folder


def unset_message(field: str, path: str) -> str:
  """The sentence for a path naming a variable that did not resolve."""
  if _DATA_VAR.search(str(path)):
    return (
      f"{field} {path!r} needs the data folder, and none was found (tried {places_tried()}); "
      f"set {DATA_DIR_ENV}=/path/to/data or give the full path"
    )
  return f"{field} {path!r} names an unset environment variable; set it or give the full path"


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
