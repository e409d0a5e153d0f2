"""What every genotype is: an immutable value with a string form and a JSON form.

A genotype is the discrete architecture a search produces. Each search
space defines its genotype class beside its networks
(:class:`~nasjax.spaces.nb201.genotype.NB201Genotype`,
:class:`~nasjax.spaces.darts.genotype.DartsGenotype`, ...) and names it in
its :class:`~nasjax.spaces.base.SearchSpace` record; this module holds what
they share and imports no space. Reading a genotype of any space, by the
``space`` field of its JSON or the form of its string, goes through the
space registry (:func:`nasjax.spaces.registry.genotype_from_dict`,
:func:`nasjax.spaces.registry.load_genotype`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Protocol

from nasjax.errors import NasjaxError


class GenotypeError(NasjaxError, ValueError):
  """A genotype string or JSON document that does not describe a valid cell."""


class Genotype(Protocol):
  """The interface of a space's genotype class.

  Attributes:
    space: the name of the space the genotype belongs to (its JSON's ``space``).
  """

  space: ClassVar[str]

  def to_string(self) -> str:
    """The canonical string form."""

  def to_dict(self) -> dict[str, Any]:
    """The JSON form: ``space``, ``arch_str`` and the space's own fields."""

  @classmethod
  def from_string(cls, text: str) -> Genotype:
    """Parses the string form; raises :class:`GenotypeError` for a malformed one."""

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> Genotype:
    """Reads the JSON form; raises :class:`GenotypeError` for an invalid one."""

  @classmethod
  def recognizes(cls, data: str | dict[str, Any]) -> bool:
    """Whether a string (or a JSON dict without ``space``) is of this kind."""


def json_dict(text: str) -> dict[str, Any]:
  """``text`` parsed as JSON.

  Raises:
    GenotypeError: if it is not valid JSON.
  """
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise GenotypeError(f"genotype is not valid JSON: {e}") from None
