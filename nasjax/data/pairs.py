"""List files of path pairs: ``image label`` lines relative to a dataset folder.

The format of CamVid's ``train.txt`` (and of segmentation sets read as
folders generally): one pair per line, two paths separated by white space,
relative to the dataset folder; blank lines are skipped.
:func:`read_pair_list` checks the folder, the list and every path it names
before any image is decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from nasjax.data.files import expand_path
from nasjax.errors import DataNotFoundError


class ListedPair(NamedTuple):
  """One line of a list file: where it is (``list:line``) and the two files it names."""

  where: str
  image: Path
  label: Path


def read_pair_list(root: str, list_file: str, field: str, limit: int = 0) -> list[ListedPair]:
  """The pairs a list file names (its first ``limit`` when set), each file checked to exist.

  Args:
    root: the dataset folder (``config.data.data_dir``); ``$VARS`` and ``~`` are expanded.
    list_file: the list, relative to ``root`` unless absolute.
    field: the config field that named the list, for error messages.
    limit: only the first ``limit`` pairs (0: all).

  Raises:
    DataNotFoundError: a missing folder, list or file, an unreadable or
      empty list, or a line that is not two paths.
  """
  folder = expand_path(root, "config.data.data_dir")
  if not folder.is_dir():
    raise DataNotFoundError(
      f"config.data.data_dir={root!r}: folder {folder} not found; set --config.data.data_dir "
      f"to the dataset folder (e.g. $NASJAX_DATA_DIR/seg/camvid)"
    )
  listing = folder / expand_path(list_file, field)
  if not listing.is_file():
    raise DataNotFoundError(
      f"{field}={list_file!r}: list file {listing} not found; set --{field} to a file of "
      f"'image label' lines relative to config.data.data_dir"
    )
  try:
    text = listing.read_text()
  except (OSError, UnicodeDecodeError) as e:
    raise DataNotFoundError(
      f"{field}: cannot read list file {listing} ({type(e).__name__}); it must be a text file "
      f"of 'image label' lines"
    ) from None
  lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1)]
  lines = [(n, parts) for n, parts in lines if parts]
  if not lines:
    raise DataNotFoundError(f"{field}: list file {listing} names no pair; add 'image label' lines")
  pairs = []
  for n, parts in lines[:limit] if limit else lines:
    where = f"{listing}:{n}"
    if len(parts) != 2:
      raise DataNotFoundError(f"{where} must hold two paths 'image label', got {' '.join(parts)!r}")
    pair = ListedPair(where, folder / parts[0], folder / parts[1])
    for path in pair[1:]:
      if not path.is_file():
        raise DataNotFoundError(
          f"{where}: {path} not found; fix the list or set --config.data.data_dir to the folder "
          f"its paths are relative to"
        )
    pairs.append(pair)
  return pairs
