"""Genotypes: the discrete architectures a search produces.

A genotype is an immutable value with a canonical string form and a JSON form.
Derivation from alpha lives with each search space; this module only knows
how genotypes are written, read and checked. Two kinds live here:
:class:`NB201Genotype` (NAS-Bench-201 cells) and :class:`DartsGenotype`
(the normal and reduction cells of the DARTS CNN space), plus the published
DARTS-space genotypes :data:`DARTS_V1`, :data:`DARTS_V2` and
:data:`PC_DARTS`. The other spaces define theirs beside their networks
(IMDN, DLSR, the segmentation trellis); :func:`genotype_from_dict` and
:func:`load_genotype` read every kind.

Example:
  >>> from nasjax.spaces.genotype import NB201Genotype
  >>> g = NB201Genotype.from_string(
  ...     '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
  ...     '+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')
  >>> g.nodes[2]
  (('skip_connect', 0), ('nor_conv_3x3', 1), ('nor_conv_3x3', 2))
  >>> NB201Genotype.from_json(g.to_json()) == g
  True
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from typing import Any

from nasjax.errors import DataNotFoundError, NasjaxError

#: NAS-Bench-201 candidate operations, in the benchmark's order.
NB201_OPS: tuple[str, ...] = (
  "none",
  "skip_connect",
  "nor_conv_1x1",
  "nor_conv_3x3",
  "avg_pool_3x3",
)

#: Number of intermediate nodes (after the input node) in an NB201 cell.
NB201_NODES = 3


class GenotypeError(NasjaxError, ValueError):
  """A genotype string or JSON document that does not describe a valid cell."""


@dataclasses.dataclass(frozen=True)
class NB201Genotype:
  """A NAS-Bench-201 cell.

  Attributes:
    nodes: for each intermediate node ``i = 1..3``, the tuple of its incoming
      edges ``(op, j)``, one for every earlier node ``j < i`` in order.
  """

  nodes: tuple[tuple[tuple[str, int], ...], ...]

  space = "nb201"

  def __post_init__(self) -> None:
    nodes = tuple(tuple((str(op), int(j)) for op, j in node) for node in self.nodes)
    object.__setattr__(self, "nodes", nodes)
    if len(nodes) != NB201_NODES:
      raise GenotypeError(
        f"an NB201 cell has {NB201_NODES} nodes after the input, got {len(nodes)}"
      )
    for i, node in enumerate(nodes, start=1):
      inputs = [j for _, j in node]
      if inputs != list(range(i)):
        raise GenotypeError(
          f"node {i} of an NB201 cell must take inputs {list(range(i))} in order, got {inputs}"
        )
      for op, _ in node:
        if op not in NB201_OPS:
          raise GenotypeError(f"unknown NB201 op {op!r}; expected one of {list(NB201_OPS)}")

  @property
  def edges(self) -> tuple[str, ...]:
    """The op of each of the 6 edges, in the benchmark's edge order."""
    return tuple(op for node in self.nodes for op, _ in node)

  @classmethod
  def from_edges(cls, ops: list[str] | tuple[str, ...]) -> NB201Genotype:
    """Builds a genotype from the 6 edge ops in benchmark order."""
    ops = list(ops)
    if len(ops) != 6:
      raise GenotypeError(f"an NB201 cell has 6 edges, got {len(ops)} ops")
    nodes, k = [], 0
    for i in range(1, NB201_NODES + 1):
      nodes.append(tuple((ops[k + j], j) for j in range(i)))
      k += i
    return cls(tuple(nodes))

  @classmethod
  def from_string(cls, arch_str: str) -> NB201Genotype:
    """Parses the official form ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    text = arch_str.strip()
    nodes = []
    for part in text.split("+"):
      if not (part.startswith("|") and part.endswith("|") and len(part) > 2):
        raise GenotypeError(f"malformed NB201 architecture string {arch_str!r}")
      edges = []
      for item in part[1:-1].split("|"):
        op, sep, j = item.partition("~")
        if not sep or not j.isdigit():
          raise GenotypeError(f"malformed edge {item!r} in NB201 string {arch_str!r}")
        edges.append((op, int(j)))
      nodes.append(tuple(edges))
    return cls(tuple(nodes))

  def to_string(self) -> str:
    """The official NAS-Bench-201 architecture string."""
    return "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in self.nodes)

  def __str__(self) -> str:
    return self.to_string()

  def to_dict(self) -> dict[str, Any]:
    return {
      "space": self.space,
      "arch_str": self.to_string(),
      "nodes": [[[op, j] for op, j in node] for node in self.nodes],
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> NB201Genotype:
    if data.get("space", cls.space) != cls.space:
      raise GenotypeError(f"genotype is for space {data.get('space')!r}, not {cls.space!r}")
    if "arch_str" in data:
      genotype = cls.from_string(data["arch_str"])
      if "nodes" in data and cls(tuple(map(tuple, data["nodes"]))) != genotype:
        raise GenotypeError("genotype JSON has 'nodes' and 'arch_str' that disagree")
      return genotype
    if "nodes" in data:
      return cls(tuple(tuple(tuple(e) for e in node) for node in data["nodes"]))
    raise GenotypeError("genotype JSON needs an 'arch_str' or a 'nodes' field")

  @classmethod
  def from_json(cls, text: str) -> NB201Genotype:
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"genotype is not valid JSON: {e}") from None
    return cls.from_dict(data)


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

  Example:
    >>> from nasjax.spaces.genotype import DARTS_V2, DartsGenotype
    >>> DARTS_V2.normal[:2]
    (('sep_conv_3x3', 0), ('sep_conv_3x3', 1))
    >>> DartsGenotype.from_string(DARTS_V2.to_string()) == DARTS_V2
    True
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
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"genotype is not valid JSON: {e}") from None
    return cls.from_dict(data)


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


def _module_kinds() -> dict[str, type]:
  """The genotype classes of the super-resolution and segmentation spaces (imported on use).

  Imported here rather than at the top: their modules import flax.
  """
  from nasjax.spaces.sr.dlsr import DLSRGenotype
  from nasjax.spaces.sr.imdn import IMDNGenotype
  from nasjax.spaces.trellis.genotype import TrellisGenotype

  return {
    IMDNGenotype.space: IMDNGenotype,
    DLSRGenotype.space: DLSRGenotype,
    TrellisGenotype.space: TrellisGenotype,
  }


def genotype_from_dict(data: dict[str, Any]) -> Any:
  """A genotype of any space from its JSON dict, dispatching on ``'space'``.

  A dict without ``'space'`` is recognised by its fields (``nodes`` or an
  NB201 ``arch_str`` for NB201, ``normal`` or a ``Genotype(...)`` string for DARTS).
  """
  space = data.get("space")
  if space is None:
    arch = str(data.get("arch_str", "")).strip()
    if "normal" in data or arch.startswith("Genotype("):
      space = DartsGenotype.space
    elif "nodes" in data or arch.startswith("|"):
      space = NB201Genotype.space
  kinds = {
    NB201Genotype.space: NB201Genotype,
    DartsGenotype.space: DartsGenotype,
    **_module_kinds(),
  }
  if space not in kinds:
    raise GenotypeError(f"genotype JSON names no known space (got {space!r}); use {list(kinds)}")
  return kinds[space].from_dict(data)


def load_genotype(path: str | Path) -> Any:
  """Reads a genotype of any space from a file.

  Accepts a search's ``genotype.json`` or a selection's ``selection.json``
  (``{'genotype': {...}, ...}``), a bare genotype JSON (``to_json()`` of a
  genotype), or a text file holding an NB201 architecture string, a DARTS
  ``Genotype(...)`` string, a super-resolution genotype string
  (``imdn:...``, ``dlsr:...``) or a trellis genotype string (``trellis:...``).

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
  if text.startswith("Genotype("):
    return DartsGenotype.from_string(text)
  if text.startswith("|"):
    return NB201Genotype.from_string(text)
  for name, kind in _module_kinds().items():
    if text.startswith(name):
      return kind.from_string(text)
  raise GenotypeError(
    f"genotype file {path} holds neither JSON, a DARTS 'Genotype(...)' string "
    "nor an NB201 '|op~0|...' string; write one of these forms"
  )
