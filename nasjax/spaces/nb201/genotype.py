"""NAS-Bench-201 genotypes: the cell's six edge ops, with the benchmark's string form.

Example:
  >>> from nasjax.spaces.nb201.genotype import NB201Genotype
  >>> g = NB201Genotype.from_string(
  ...     '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|'
  ...     '+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|')
  >>> g.nodes[2]
  (('skip_connect', 0), ('nor_conv_3x3', 1), ('nor_conv_3x3', 2))
  >>> NB201Genotype.from_json(g.to_json()) == g
  True
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nasjax.spaces.genotype import GenotypeError, json_dict

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
    return cls.from_dict(json_dict(text))

  @classmethod
  def recognizes(cls, data: str | dict[str, Any]) -> bool:
    """Whether ``data`` (a string, or a JSON dict without ``space``) is an NB201 genotype."""
    if isinstance(data, dict):
      return "nodes" in data or cls.recognizes(str(data.get("arch_str", "")))
    return data.strip().startswith("|")
