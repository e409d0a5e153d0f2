"""The genotype of the trellis space: one cell and the path of levels through the layers.

A :class:`TrellisGenotype` is what Auto-DeepLab decodes: the cell (DARTS'
form, two ``(op, input)`` pairs per block; inputs 0 and 1 are the cell's
inputs ``s0`` and ``s1``, input ``i + 2`` is block ``i``) shared by every
layer, and ``path[l]``, the level of layer ``l``'s cell (consecutive levels
differ by at most one; the path starts from the stem at level 0). The
string form is ``trellis:path=0,1,1,2;cell=op~j,op~j|op~j,op~j|...`` (one
``|``-separated group per block). A block's two pairs are kept sorted by
input: their order carries no meaning (the block sums them).

Example:
  >>> g = TrellisGenotype.from_string(
  ...     'trellis:path=0,1,1,2;cell=sep_conv_3x3~1,skip_connect~0|dil_conv_3x3~2,max_pool_3x3~1')
  >>> g.cell[:2], g.blocks, g.layers
  ((('skip_connect', 0), ('sep_conv_3x3', 1)), 2, 4)
  >>> TrellisGenotype.from_json(g.to_json()) == g
  True
  >>> str(g)
  'trellis:path=0,1,1,2;cell=skip_connect~0,sep_conv_3x3~1|max_pool_3x3~1,dil_conv_3x3~2'
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.genotype import GenotypeError

#: The ops a trellis cell may use (the DARTS candidates without ``none``).
CELL_OPS: tuple[str, ...] = tuple(op for op in DARTS_OPS if op != "none")

PREFIX = "trellis:"


@dataclasses.dataclass(frozen=True)
class TrellisGenotype:
  """A decoded Auto-DeepLab architecture (see the module docstring).

  Attributes:
    cell: ``(op, input)`` pairs, two per block, each block's sorted by input.
    path: the level of the cell of each layer, ``len(path) = layers``.
  """

  cell: tuple[tuple[str, int], ...]
  path: tuple[int, ...]

  space = "trellis"

  def __post_init__(self) -> None:
    try:
      pairs = tuple((str(op), int(j)) for op, j in self.cell)
      path = tuple(int(s) for s in self.path)
    except (TypeError, ValueError):
      raise GenotypeError(
        "a trellis genotype needs (op, input) pairs for its cell and integer levels for its path"
      ) from None
    if not pairs or len(pairs) % 2:
      raise GenotypeError(f"a trellis cell needs 2 (op, input) pairs per block, got {len(pairs)}")
    blocks = []
    for b in range(len(pairs) // 2):
      block = tuple(sorted(pairs[2 * b : 2 * b + 2], key=lambda p: p[1]))
      for op, j in block:
        if op not in CELL_OPS:
          raise GenotypeError(f"unknown trellis cell op {op!r}; expected one of {list(CELL_OPS)}")
        if not 0 <= j < b + 2:
          raise GenotypeError(
            f"block {b} of a trellis cell can only take inputs 0..{b + 1}, got {j}"
          )
      if block[0][1] == block[1][1]:
        raise GenotypeError(
          f"block {b} of a trellis cell takes input {block[0][1]} twice; its two inputs must differ"
        )
      blocks.extend(block)
    if not path:
      raise GenotypeError("a trellis path needs the level of at least one layer")
    previous = 0  # the stem's level
    for layer, s in enumerate(path):
      if s < 0 or abs(s - previous) > 1:
        raise GenotypeError(
          f"the trellis path moves from level {previous} to {s} at layer {layer}; a path moves at "
          f"most one level per layer and levels are >= 0: {list(path)}"
        )
      previous = s
    object.__setattr__(self, "cell", tuple(blocks))
    object.__setattr__(self, "path", path)

  @property
  def blocks(self) -> int:
    """The number of blocks of the cell."""
    return len(self.cell) // 2

  @property
  def layers(self) -> int:
    """The number of layers (cells) of the network."""
    return len(self.path)

  def to_string(self) -> str:
    """``trellis:path=...;cell=...`` (see the module docstring)."""
    groups = (
      ",".join(f"{op}~{j}" for op, j in self.cell[2 * b : 2 * b + 2]) for b in range(self.blocks)
    )
    return f"{PREFIX}path={','.join(map(str, self.path))};cell={'|'.join(groups)}"

  def __str__(self) -> str:
    return self.to_string()

  @classmethod
  def from_string(cls, text: str) -> TrellisGenotype:
    """Parses :meth:`to_string`'s form (the ``trellis:`` prefix is optional)."""
    body = text.strip().removeprefix(PREFIX)
    parts = dict(p.strip().partition("=")[::2] for p in body.split(";"))
    if set(parts) != {"path", "cell"}:
      raise GenotypeError(
        f"a trellis genotype string reads 'trellis:path=0,1,...;cell=op~j,op~j|...', got {text!r}"
      )
    levels = [s.strip() for s in parts["path"].split(",")]
    if not all(s.isdigit() for s in levels):
      raise GenotypeError(f"the trellis path must list levels like 0,1,1,2, got {text!r}")
    pairs = []
    for group in parts["cell"].split("|"):
      items = group.split(",")
      if len(items) != 2:
        raise GenotypeError(f"each trellis block needs two 'op~j' pairs, got {group!r} in {text!r}")
      for item in items:
        op, sep, j = item.strip().partition("~")
        if not sep or not j.isdigit():
          raise GenotypeError(f"malformed pair {item!r} in trellis genotype {text!r}; write op~j")
        pairs.append((op, int(j)))
    return cls(tuple(pairs), tuple(int(s) for s in levels))

  def to_dict(self) -> dict[str, Any]:
    return {
      "space": self.space,
      "arch_str": self.to_string(),
      "cell": [[op, j] for op, j in self.cell],
      "path": list(self.path),
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> TrellisGenotype:
    if not isinstance(data, dict) or data.get("space", cls.space) != cls.space:
      raise GenotypeError(f"this genotype is not for space {cls.space!r}: {data!r}")
    explicit = cls(data["cell"], data["path"]) if "cell" in data and "path" in data else None
    if "arch_str" in data:
      genotype = cls.from_string(data["arch_str"])
      if explicit is not None and explicit != genotype:
        raise GenotypeError("the genotype's 'arch_str' and 'cell'/'path' disagree")
      return genotype
    if explicit is None:
      raise GenotypeError("a trellis genotype dict needs 'arch_str' or 'cell' and 'path'")
    return explicit

  @classmethod
  def from_json(cls, text: str) -> TrellisGenotype:
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"the genotype is not valid JSON: {e}") from None
    return cls.from_dict(data)

  @classmethod
  def recognizes(cls, data: str | dict[str, Any]) -> bool:
    """Whether ``data`` (a string, or a JSON dict without ``space``) is a genotype of this space."""
    text = str(data.get("arch_str", "")) if isinstance(data, dict) else data
    return text.strip().startswith(cls.space)
