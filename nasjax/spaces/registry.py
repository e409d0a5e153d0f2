"""The search-space registry: spaces by the name in ``config.space.name``, and their genotypes.

Every space is a :class:`~nasjax.spaces.base.SearchSpace` record. The
built-in ones are registered at the end of this module: ``nb201``
(:mod:`nasjax.spaces.nb201`), ``darts`` with RobustDARTS' S1-S4
(:mod:`nasjax.spaces.darts`), the super-resolution spaces ``imdn`` and
``dlsr`` (:mod:`nasjax.spaces.sr`) and the segmentation ``trellis``
(:mod:`nasjax.spaces.trellis`). A new space is one
:func:`register_space` call, from its own module, a notebook or a test.

Genotypes of any space are read through the registry: a JSON dict by its
``space`` field (:func:`genotype_from_dict`), a file of any space's JSON or
string form (:func:`load_genotype`).

Example:
  >>> from nasjax.config import search_config
  >>> from nasjax.spaces.registry import get_space
  >>> config = search_config()
  >>> get_space(config.space.name).alpha_shapes(config.space)
  {'cell': (6, 5)}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.spaces.base import SearchSpace
from nasjax.spaces.darts.space import DARTS
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.nb201.space import NB201
from nasjax.spaces.sr.space import DLSR, IMDN
from nasjax.spaces.trellis.space import TRELLIS

#: Every registered search space, by name.
SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace, replace: bool = False) -> SearchSpace:
  """Adds ``space`` to the registry under ``space.name``, and returns it.

  Raises:
    ValueError: if another space has that name (unless ``replace``).
  """
  if space.name in SPACES and SPACES[space.name] is not space and not replace:
    raise ValueError(f"a search space named {space.name!r} is registered already")
  SPACES[space.name] = space
  return space


def get_space(name: str) -> SearchSpace:
  """The search space registered as ``name``.

  Raises:
    ConfigError: if no space has that name.
  """
  if name not in SPACES:
    raise ConfigError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
  return SPACES[name]


def genotype_kinds() -> dict[str, type]:
  """The genotype class of every registered space, by the name its JSON's ``space`` holds."""
  kinds: dict[str, type] = {}
  for space in SPACES.values():
    kinds.setdefault(space.genotype.space, space.genotype)
  return kinds


def genotype_from_dict(data: dict[str, Any]) -> Any:
  """A genotype of any registered space from its JSON dict, dispatching on ``'space'``.

  A dict without ``'space'`` is recognised by its fields (``nodes`` or an
  NB201 ``arch_str`` for NB201, ``normal`` or a ``Genotype(...)`` string for
  DARTS; see each genotype class's ``recognizes``).

  Raises:
    GenotypeError: for a dict of no registered space, or an invalid one.
  """
  kinds = genotype_kinds()
  space = data.get("space")
  if space is None:
    space = next((name for name, kind in kinds.items() if kind.recognizes(data)), None)
  if space not in kinds:
    raise GenotypeError(f"genotype JSON names no known space (got {space!r}); use {list(kinds)}")
  return kinds[space].from_dict(data)


def load_genotype(path: str | Path) -> Any:
  """Reads a genotype of any registered space from a file.

  Accepts a search's ``genotype.json`` or a selection's ``selection.json``
  (``{'genotype': {...}, ...}``), a bare genotype JSON (``to_json()`` of a
  genotype), or a text file holding a genotype's string form: an NB201
  architecture string, a DARTS ``Genotype(...)`` string, a super-resolution
  genotype string (``imdn:...``, ``dlsr:...``) or a trellis genotype string
  (``trellis:...``).

  Raises:
    DataNotFoundError: if the file does not exist.
    GenotypeError: if it holds no valid genotype.
  """
  path = Path(path).expanduser()
  if not path.is_file():
    raise DataNotFoundError(
      f"genotype file {path} does not exist; pass the path of a genotype file"
    )
  text = path.read_text().strip()
  if text.startswith("{"):
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"genotype file {path} is not valid JSON: {e}") from None
    if isinstance(data.get("genotype"), dict):
      data = data["genotype"]
    return genotype_from_dict(data)
  for kind in genotype_kinds().values():
    if kind.recognizes(text):
      return kind.from_string(text)
  raise GenotypeError(
    f"genotype file {path} holds neither JSON, a DARTS 'Genotype(...)' string "
    "nor an NB201 '|op~0|...' string; write one of these forms"
  )


for _space in (NB201, DARTS, IMDN, DLSR, TRELLIS):
  register_space(_space)
