"""Look-up of NAS-Bench-201 ground truth for a genotype.

Reads the benchmark table in the format of ``nb201.csv.gz`` (one row per
architecture, all 15,625 of them, with the benchmark's ``arch_str``; see
the data folder's ``README.md``): the 200-epoch accuracies that DARTS-on-NB201
tables report, the 12-epoch ones, parameters and FLOPs.

The table is found, in order, at the path given, at ``$NASJAX_NB201_TABLE``,
or as ``nb201.csv.gz`` inside ``$NASJAX_DATA_DIR``. It is checked as it is
loaded (:func:`check_rows`), so a truncated or foreign file stops a search
before it trains rather than at its first look-up.

Example:
  >>> from nasjax.spaces.nb201.benchmark import NB201Table
  >>> table = NB201Table.load()  # doctest: +SKIP
  >>> result = table.lookup('|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
  ...                       '+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')  # doctest: +SKIP
  >>> result.cifar100_test  # doctest: +SKIP
  73.5133
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Any

from nasjax.data.files import DATA_DIR_ENV, data_dir, places_tried
from nasjax.errors import DataNotFoundError, NasjaxError
from nasjax.spaces.nb201.genotype import NB201Genotype

TABLE_FILENAME = "nb201.csv.gz"
#: Rows of the full table: every cell of the NAS-Bench-201 space (5 ops on 6 edges).
NUM_ARCHITECTURES = 5**6
TABLE_ENV = "NASJAX_NB201_TABLE"

#: Column of the table behind each headline field of :class:`NB201Result`.
HEADLINE_COLUMNS = {
  "cifar10_valid": "cifar10valid_valid_acc",
  "cifar10_test": "cifar10_test_acc",
  "cifar100_test": "cifar100_test_acc",
  "imagenet16_test": "imagenet16_test_acc",
  "params_M": "params_cifar10_M",
  "flops_M": "flops_cifar10_M",
}


#: The end of every message about a bad table file.
TABLE_FIX = (
  f"point config.nb201_table (or ${TABLE_ENV}) at the full {TABLE_FILENAME} of "
  f"{NUM_ARCHITECTURES} rows (see the data folder's README.md), or set "
  f"config.nb201_table='none' to search without it"
)


class BenchmarkTableError(NasjaxError, ValueError):
  """The benchmark file exists but is not a NAS-Bench-201 table, or lacks an architecture."""


@dataclasses.dataclass(frozen=True)
class NB201Result:
  """The benchmark's record of one architecture.

  The headline fields are the columns DARTS-on-NAS-Bench-201 tables report:
  CIFAR-10 valid (``cifar10-valid`` x-valid) and test, CIFAR-100 test and
  ImageNet16-120 test accuracy after 200 epochs (percent), and the CIFAR-10
  network's parameters and FLOPs in millions. ``columns`` holds every column.
  """

  index: int
  arch_str: str
  cifar10_valid: float
  cifar10_test: float
  cifar100_test: float
  imagenet16_test: float
  params_M: float
  flops_M: float
  columns: dict[str, float] = dataclasses.field(repr=False, compare=False)

  def to_dict(self) -> dict[str, Any]:
    """The headline fields as a JSON-ready dict."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "columns"}


def resolve_table_path(path: str | os.PathLike | None = None) -> Path:
  """Where the table is: ``path``, ``$NASJAX_NB201_TABLE``, or ``$NASJAX_DATA_DIR/nb201.csv.gz``.

  A directory is searched for ``nb201.csv.gz``.

  Raises:
    DataNotFoundError: naming where it looked and how to point nasjax at the file.
  """
  where = "the given path"
  if path is None and os.environ.get(TABLE_ENV):
    path, where = os.environ[TABLE_ENV], f"${TABLE_ENV}"
  if path is None and data_dir() is not None:
    path, where = data_dir(), "the data folder"
  if path is None:
    raise DataNotFoundError(
      f"no NAS-Bench-201 table configured: pass its path (config.nb201_table) or set "
      f"{TABLE_ENV} to the {TABLE_FILENAME} file, or {DATA_DIR_ENV} to its folder "
      f"(tried {places_tried()})"
    )
  candidate = Path(path).expanduser()
  if candidate.is_dir():
    candidate = candidate / TABLE_FILENAME
  if not candidate.is_file():
    raise DataNotFoundError(
      f"NAS-Bench-201 table not found at {candidate} (from {where}); point config.nb201_table "
      f"or {TABLE_ENV} at the {TABLE_FILENAME} file"
    )
  return candidate


class NB201Table:
  """The NAS-Bench-201 table, indexed by architecture string."""

  def __init__(self, rows: list[dict[str, str]], source: str = "<rows>"):
    missing = sorted(
      {"index", "arch_str", *HEADLINE_COLUMNS.values()} - set(rows[0] if rows else {})
    )
    if missing:
      raise BenchmarkTableError(
        f"{source} is not a NAS-Bench-201 table: it lacks column(s) {missing}; {TABLE_FIX}"
      )
    self.source = source
    self._rows = rows
    self._by_arch = {row["arch_str"]: k for k, row in enumerate(rows)}

  @classmethod
  def load(cls, path: str | os.PathLike | None = None) -> NB201Table:
    """Reads the table (cached per file); see :func:`resolve_table_path`."""
    return _load_cached(str(resolve_table_path(path)))

  def __len__(self) -> int:
    return len(self._rows)

  def __contains__(self, genotype: NB201Genotype | str) -> bool:
    return str(genotype) in self._by_arch

  def _result(self, k: int) -> NB201Result:
    row = self._rows[k]
    try:
      columns = {key: float(value) for key, value in row.items() if key != "arch_str"}
    except ValueError as e:
      raise BenchmarkTableError(f"{self.source}: row {k} has a non-numeric value ({e})") from None
    return NB201Result(
      index=int(columns["index"]),
      arch_str=row["arch_str"],
      columns=columns,
      **{name: columns[col] for name, col in HEADLINE_COLUMNS.items()},
    )

  def lookup(self, genotype: NB201Genotype | str) -> NB201Result:
    """The benchmark's record of ``genotype`` (a genotype or its string form).

    Raises:
      BenchmarkTableError: if the table has no such architecture.
    """
    arch = genotype.to_string() if isinstance(genotype, NB201Genotype) else str(genotype)
    if arch not in self._by_arch:
      NB201Genotype.from_string(arch)  # a malformed string gets the parser's message
      raise BenchmarkTableError(f"architecture {arch} is not in the table {self.source}")
    return self._result(self._by_arch[arch])

  def by_index(self, index: int) -> NB201Result:
    """The record with benchmark index ``index`` (rows are in index order)."""
    if not 0 <= index < len(self._rows):
      raise IndexError(f"NAS-Bench-201 index must be in [0, {len(self._rows)}), got {index}")
    return self._result(index)

  def arch_strings(self) -> list[str]:
    """Every architecture string, in index order."""
    return [row["arch_str"] for row in self._rows]

  def best(self, field: str = "cifar10_test") -> NB201Result:
    """The architecture with the highest value of a headline field or column."""
    column = HEADLINE_COLUMNS.get(field, field)
    k = max(range(len(self._rows)), key=lambda i: float(self._rows[i][column]))
    return self._result(k)


def check_rows(rows: list[dict[str, str]], source: str) -> None:
  """Checks a table as it is loaded: every architecture, in index order, with the look-ups' columns.

  The file must hold :data:`NUM_ARCHITECTURES` rows, with the columns
  ``index``, ``arch_str`` and those of :data:`HEADLINE_COLUMNS` filled in
  every row (numbers but ``arch_str``), ``index`` counting ``0, 1, ...``
  and no architecture twice, so that every look-up of a search finds its cell.

  Raises:
    BenchmarkTableError: one sentence naming ``source``, the problem and the fix.
  """
  if not rows:
    raise BenchmarkTableError(f"{source} holds no architecture (no data rows); {TABLE_FIX}")
  NB201Table(rows[:1], source)  # the columns
  if len(rows) != NUM_ARCHITECTURES:
    raise BenchmarkTableError(
      f"{source} holds {len(rows)} architectures, but NAS-Bench-201 has {NUM_ARCHITECTURES}, so "
      f"it is not the complete table; {TABLE_FIX}"
    )
  numeric = ("index", *HEADLINE_COLUMNS.values())
  for k, row in enumerate(rows):
    try:
      if None in row or None in row.values():  # DictReader's marks of a long or short line
        raise ValueError("it does not have one value per column")
      values = [float(row[column]) for column in numeric]
      if not row["arch_str"]:
        raise ValueError("its arch_str is empty")
    except ValueError as e:
      raise BenchmarkTableError(f"{source}: data row {k} is malformed ({e}); {TABLE_FIX}") from None
    if values[0] != k:
      raise BenchmarkTableError(
        f"{source}: data row {k} has index {row['index']}, but the rows must be the "
        f"architectures 0..{NUM_ARCHITECTURES - 1} in index order; {TABLE_FIX}"
      )
  distinct = len({row["arch_str"] for row in rows})
  if distinct != len(rows):
    raise BenchmarkTableError(
      f"{source} lists {len(rows) - distinct} architecture(s) twice; {TABLE_FIX}"
    )


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> NB201Table:
  try:
    with open(path, "rb") as f:
      raw = f.read()
    text = gzip.decompress(raw).decode() if path.endswith(".gz") else raw.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
  except (OSError, EOFError, UnicodeDecodeError, zlib.error, csv.Error) as e:
    reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    raise BenchmarkTableError(
      f"cannot read NAS-Bench-201 table {path} ({reason}); {TABLE_FIX}"
    ) from None
  check_rows(rows, path)
  return NB201Table(rows, source=path)


def load_table(setting: str) -> NB201Table | None:
  """The table of a search's ``config.nb201_table`` setting, or None.

  ``"none"`` turns the look-up off; a path loads that file; ``""`` loads
  ``nb201.csv.gz`` from ``$NASJAX_DATA_DIR`` when it is there (None otherwise).
  """
  if setting.lower() == "none":
    return None
  if setting:
    return NB201Table.load(setting)
  folder = data_dir()
  default = folder / TABLE_FILENAME if folder is not None else None
  return NB201Table.load(default) if default is not None and default.is_file() else None
