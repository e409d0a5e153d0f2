"""DARTS-space genotypes: the normal and reduction cells, in DARTS' ``Genotype(...)`` form.

Also the published genotypes :data:`DARTS_V1`, :data:`DARTS_V2` and
:data:`PC_DARTS`, and :data:`NAMED_GENOTYPES`, the names ``--genotype``
accepts for them.

Example:
  >>> from nasjax.spaces.darts.genotype import DARTS_V2, DartsGenotype
  >>> DARTS_V2.normal[:2]
  (('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
  >>> DartsGenotype.from_string(DARTS_V2.to_string()) == DARTS_V2
  True
"""

from __future__ import annotations

import ast
import dataclasses
import json
from typing import Any

from nasjax.spaces.genotype import GenotypeError, json_dict

#: Candidate operations of the DARTS CNN space, in DARTS' ``PRIMITIVES`` order.
DARTS_OPS: tuple[str, ...] = (
  "none",
  "max_pool_3x3",
  "avg_pool_3x3",
  "skip_connect",
  "sep_conv_3x3",
  "sep_conv_5x5",
  "dil_conv_3x3",
  "dil_conv_5x5",
)

#: Every op a DARTS-space genotype may name: :data:`DARTS_OPS` and RobustDARTS' ``noise``.
DARTS_GENOTYPE_OPS: tuple[str, ...] = DARTS_OPS + ("noise",)

_DARTS_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _check_darts_cell(
  kind: str, pairs: Any, concat: Any
) -> tuple[tuple[tuple[str, int], ...], tuple[int, ...]]:
  """Normalises one cell's pairs and concat to tuples and checks them."""
  try:
    pairs = tuple((str(op), int(j)) for op, j in pairs)
    concat = tuple(int(c) for c in concat)
  except (TypeError, ValueError):
    raise GenotypeError(
      f"the {kind} cell must be a list of (op, input) pairs with an integer concat list"
    ) from None
  if len(pairs) < 2 or len(pairs) % 2:
    raise GenotypeError(
      f"the {kind} cell needs 2 (op, input) pairs per node (8 for 4 nodes), got {len(pairs)}"
    )
  for index, (op, j) in enumerate(pairs):
    node = index // 2
    if op not in DARTS_GENOTYPE_OPS:
      raise GenotypeError(f"unknown DARTS op {op!r}; expected one of {list(DARTS_GENOTYPE_OPS)}")
    if not 0 <= j < node + 2:
      raise GenotypeError(
        f"node {node} of the {kind} cell can only take inputs 0..{node + 1}, got input {j}"
      )
  num_states = len(pairs) // 2 + 2
  if not concat or len(set(concat)) != len(concat) or not all(0 <= c < num_states for c in concat):
    raise GenotypeError(
      f"{kind}_concat must list distinct states in 0..{num_states - 1}, got {list(concat)}"
    )
  return pairs, concat


def _concat_string(concat: tuple[int, ...]) -> str:
  if len(concat) > 1 and concat == tuple(range(concat[0], concat[-1] + 1)):
    return f"range({concat[0]}, {concat[-1] + 1})"
  return repr(list(concat))


def _literal(node: ast.expr, text: str) -> Any:
  """A literal (or ``range(a, b)`` of literals) of a parsed genotype string."""
  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
    if node.keywords or not 1 <= len(node.args) <= 3:
      raise GenotypeError(f"malformed range(...) in genotype string {text!r}")
    return list(range(*(_literal(a, text) for a in node.args)))
  try:
    return ast.literal_eval(node)
  except (ValueError, TypeError, SyntaxError):
    raise GenotypeError(f"genotype string {text!r} holds a value that is not a literal") from None


@dataclasses.dataclass(frozen=True)
class DartsGenotype:
  """The two cells of a DARTS-space network.

  Attributes:
    normal: the normal cell, 2 ``(op, input)`` pairs per intermediate node
      (8 for DARTS' 4 nodes); node ``k``'s inputs are ``0..k+1`` (0 and 1 are
      the cell inputs c_{k-2} and c_{k-1}, ``k+2`` is node k's own state).
    normal_concat: the states concatenated into the cell output (``2..5``).
    reduce, reduce_concat: the same for the reduction cell.

  """

  normal: tuple[tuple[str, int], ...]
  normal_concat: tuple[int, ...]
  reduce: tuple[tuple[str, int], ...]
  reduce_concat: tuple[int, ...]

  space = "darts"

  def __post_init__(self) -> None:
    for kind in ("normal", "reduce"):
      pairs, concat = _check_darts_cell(kind, getattr(self, kind), getattr(self, f"{kind}_concat"))
      object.__setattr__(self, kind, pairs)
      object.__setattr__(self, f"{kind}_concat", concat)
    if len(self.normal) != len(self.reduce):
      raise GenotypeError(
        f"normal and reduce cells must have as many nodes, got {len(self.normal) // 2} "
        f"and {len(self.reduce) // 2}"
      )

  @property
  def steps(self) -> int:
    """The number of intermediate nodes per cell."""
    return len(self.normal) // 2

  @classmethod
  def from_string(cls, text: str) -> DartsGenotype:
    """Parses DARTS' form ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=...)``.

    The concats may be written ``range(2, 6)`` or ``[2, 3, 4, 5]``; the
    fields may also be positional, in the order normal, normal_concat,
    reduce, reduce_concat.
    """
    try:
      tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
      raise GenotypeError(f"malformed DARTS genotype string {text!r}") from None
    if not (
      isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id == "Genotype"
    ):
      raise GenotypeError(f"a DARTS genotype string must be 'Genotype(...)', got {text!r}")
    if len(tree.args) > len(_DARTS_FIELDS):
      raise GenotypeError(f"too many fields in DARTS genotype string {text!r}")
    fields = dict(zip(_DARTS_FIELDS, tree.args, strict=False))
    for keyword in tree.keywords:
      if keyword.arg not in _DARTS_FIELDS or keyword.arg in fields:
        raise GenotypeError(f"unexpected or repeated field {keyword.arg!r} in {text!r}")
      fields[keyword.arg] = keyword.value
    missing = [f for f in _DARTS_FIELDS if f not in fields]
    if missing:
      raise GenotypeError(f"DARTS genotype string {text!r} lacks field(s) {missing}")
    return cls(**{name: _literal(node, text) for name, node in fields.items()})

  def to_string(self) -> str:
    """DARTS' ``Genotype(...)`` form (contiguous concats written as ``range``)."""
    return (
      f"Genotype(normal={list(self.normal)!r}, normal_concat={_concat_string(self.normal_concat)}, "
      f"reduce={list(self.reduce)!r}, reduce_concat={_concat_string(self.reduce_concat)})"
    )

  def __str__(self) -> str:
    return self.to_string()

  def to_dict(self) -> dict[str, Any]:
    return {
      "space": self.space,
      "arch_str": self.to_string(),
      "normal": [[op, j] for op, j in self.normal],
      "normal_concat": list(self.normal_concat),
      "reduce": [[op, j] for op, j in self.reduce],
      "reduce_concat": list(self.reduce_concat),
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> DartsGenotype:
    if data.get("space", cls.space) != cls.space:
      raise GenotypeError(f"genotype is for space {data.get('space')!r}, not {cls.space!r}")
    explicit = None
    if all(f in data for f in _DARTS_FIELDS):
      explicit = cls(**{f: data[f] for f in _DARTS_FIELDS})
    if "arch_str" in data:
      genotype = cls.from_string(data["arch_str"])
      if explicit is not None and explicit != genotype:
        raise GenotypeError("genotype JSON has cell fields and an 'arch_str' that disagree")
      return genotype
    if explicit is None:
      raise GenotypeError(f"genotype JSON needs an 'arch_str' or the fields {list(_DARTS_FIELDS)}")
    return explicit

  @classmethod
  def from_json(cls, text: str) -> DartsGenotype:
    return cls.from_dict(json_dict(text))

  @classmethod
  def recognizes(cls, data: str | dict[str, Any]) -> bool:
    """Whether ``data`` (a string, or a JSON dict without ``space``) is a DARTS genotype."""
    if isinstance(data, dict):
      return "normal" in data or cls.recognizes(str(data.get("arch_str", "")))
    return data.strip().startswith("Genotype(")


#: DARTS (first order), Liu et al. 2019: the published CIFAR-10 cells.
DARTS_V1 = DartsGenotype(
  normal=(
    ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
    ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2),
  ),
  normal_concat=(2, 3, 4, 5),
  reduce=(
    ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
    ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0),
  ),
  reduce_concat=(2, 3, 4, 5),
)  # fmt: skip

#: DARTS (second order), Liu et al. 2019: the published CIFAR-10 cells ("DARTS").
DARTS_V2 = DartsGenotype(
  normal=(
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
  ),
  normal_concat=(2, 3, 4, 5),
  reduce=(
    ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
    ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
  ),
  reduce_concat=(2, 3, 4, 5),
)  # fmt: skip

#: PC-DARTS, Xu et al. 2020: the published CIFAR-10 cells.
PC_DARTS = DartsGenotype(
  normal=(
    ("sep_conv_3x3", 1), ("skip_connect", 0), ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
    ("sep_conv_5x5", 0), ("sep_conv_3x3", 1), ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
  ),
  normal_concat=(2, 3, 4, 5),
  reduce=(
    ("sep_conv_5x5", 1), ("max_pool_3x3", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 3), ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
  ),
  reduce_concat=(2, 3, 4, 5),
)  # fmt: skip


#: The published genotypes ``--genotype`` accepts by name.
NAMED_GENOTYPES: dict[str, DartsGenotype] = {
  "DARTS_V1": DARTS_V1,
  "DARTS_V2": DARTS_V2,
  "PC_DARTS": PC_DARTS,
}
