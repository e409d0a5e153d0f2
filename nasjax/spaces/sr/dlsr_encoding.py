"""What the DLSR search encodes: candidates, alpha layout, genotype, derivation, costs.

The networks are in :mod:`nasjax.spaces.sr.dlsr` (whose docstring states the
sources and the choices made); this module holds what does not need Flax:
the candidate ops (:data:`DLSR_OPS`), their parameter and multiply-add
counts, the two alpha tensors (``'cell'``: the three searched ops, shared by
all cells; ``'network'``: two input slots per cell from the third on, over
the earlier cells), :class:`DLSRGenotype`, argmax derivation and its one-hot
inverse, and the costs of the FLOPs-constrained alpha loss.

Example:
  >>> g = DLSRGenotype.from_string('ops=sep_conv_5x5,conv_1x1,sep_conv_3x3;inputs=2+1,3+2')
  >>> g.num_cells, derive_genotype(genotype_weights(g)) == g
  (4, True)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from nasjax.errors import ConfigError
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.sr.ops import cost_lr_size

#: The searched candidates, in the order of the public code's ``PRIMITIVES``.
DLSR_OPS: tuple[str, ...] = (
  *(f"conv_{k}x{k}" for k in (1, 3, 5, 7)),
  *(f"sep_conv_{k}x{k}" for k in (3, 5, 7)),
  *(f"dil_conv_{k}x{k}" for k in (3, 5)),
)
#: Every op name a DLSR cell accepts: the candidates, ``skip_connect`` and ``<op>_bn``.
KNOWN_OPS: tuple[str, ...] = DLSR_OPS + ("skip_connect",) + tuple(f"{o}_bn" for o in DLSR_OPS)
#: Default width and depth (the public code's ``nf`` and ``num_modules``).
DEFAULT_FEATURES, DEFAULT_NUM_CELLS = 48, 6
#: Searched positions per cell; LeakyReLU slope of the trunk and cells.
NUM_POSITIONS, LRELU_SLOPE = 3, 0.05
#: The ``config.space`` fields of the space and their defaults.
DEFAULTS: dict[str, Any] = dict(
  name="dlsr", scale=2, features=DEFAULT_FEATURES, num_cells=DEFAULT_NUM_CELLS, ops=DLSR_OPS,
  track_running_stats=False, partial_channels=1,
)  # fmt: skip


def space_defaults() -> dict[str, Any]:
  """A fresh copy of :data:`DEFAULTS`."""
  return dict(DEFAULTS)


def runlocal_fields() -> dict[str, Any]:
  """Fields that shrink the supernet to CPU size (same candidates and layout)."""
  return dict(features=8, num_cells=3)


def parse_op(name: str) -> tuple[str, int, bool]:
  """``(kind, kernel size, with BN)`` of an op name, e.g. ``('sep_conv', 5, False)``.

  Raises:
    ConfigError: if ``name`` is not one of :data:`KNOWN_OPS`.
  """
  if name not in KNOWN_OPS:
    raise ConfigError(f"unknown DLSR op {name!r}; choose from {list(KNOWN_OPS)}")
  if name == "skip_connect":
    return "skip_connect", 0, False
  bn = name.endswith("_bn")
  kind, _, size = name.removesuffix("_bn").rpartition("_")
  return kind, int(size.partition("x")[0]), bn


def op_macs(name: str, channels: int, h: int, w: int) -> int:
  """Multiply-adds of op ``name`` on a ``channels``-channel ``h x w`` map (BN not counted)."""
  kind, k, _ = parse_op(name)
  per_pixel = {
    "skip_connect": 0,
    "conv": k * k * channels * channels,
    "sep_conv": 2 * (k * k * channels + channels * channels),
    "dil_conv": k * k * channels + channels * channels,
  }[kind]
  return per_pixel * h * w


def op_params(name: str, channels: int) -> int:
  """Learned parameters of op ``name`` (kernels, and the BN scale and bias of ``_bn`` ops)."""
  _, _, bn = parse_op(name)
  return op_macs(name, channels, 1, 1) + (2 * channels if bn else 0)


def network_candidates(num_cells: int) -> tuple[str, ...]:
  """The columns of the ``'network'`` alpha: ``('cell_1', ..., 'cell_{num_cells-1}')``."""
  return tuple(f"cell_{j}" for j in range(1, num_cells))


def _check_num_cells(num_cells: int) -> None:
  if not (isinstance(num_cells, int) and num_cells >= 3):
    raise ConfigError(f"a DLSR network needs num_cells >= 3 (an integer), got {num_cells!r}")


def alpha_shapes(
  num_cells: int = DEFAULT_NUM_CELLS, op_names: Sequence[str] = DLSR_OPS
) -> dict[str, tuple[int, int]]:
  """``{'cell': (3, len(op_names)), 'network': (2 * (num_cells - 2), num_cells - 1)}``."""
  _check_num_cells(num_cells)
  return {
    "cell": (NUM_POSITIONS, len(op_names)),
    "network": (2 * (num_cells - 2), num_cells - 1),
  }


def row_op_names(
  num_cells: int = DEFAULT_NUM_CELLS, op_names: Sequence[str] = DLSR_OPS
) -> dict[str, tuple[tuple[str, ...], ...]]:
  """The candidates of every alpha row, ``{name: (row 0's, row 1's, ...)}``."""
  shapes = alpha_shapes(num_cells, op_names)
  return {
    "cell": (tuple(op_names),) * NUM_POSITIONS,
    "network": (network_candidates(num_cells),) * shapes["network"][0],
  }


@dataclasses.dataclass(frozen=True)
class DLSRGenotype:
  """A DLSR architecture.

  Attributes:
    ops: the op of each of the 3 searched positions of the (shared) cell.
    inputs: for cells ``3..num_cells`` in order, the two earlier cells
      (1-based, distinct) whose outputs the cell's input conv reads, slot 0 first.
  """

  ops: tuple[str, ...]
  inputs: tuple[tuple[int, int], ...]

  space = "dlsr"

  def __post_init__(self) -> None:
    try:
      ops_ = tuple(str(o) for o in self.ops)
      inputs = tuple(tuple(int(j) for j in pair) for pair in self.inputs)
    except (TypeError, ValueError):
      raise GenotypeError("a DLSR genotype needs op names and pairs of integer cells") from None
    object.__setattr__(self, "ops", ops_)
    object.__setattr__(self, "inputs", inputs)
    if len(ops_) != NUM_POSITIONS or any(o not in KNOWN_OPS for o in ops_):
      raise GenotypeError(f"a DLSR cell needs 3 ops from {list(KNOWN_OPS)}, got {list(ops_)}")
    if not inputs:
      raise GenotypeError("a DLSR genotype needs the inputs of at least cell 3")
    for i, pair in enumerate(inputs, start=3):
      if len(pair) != 2 or len(set(pair)) != 2 or not all(1 <= j < i for j in pair):
        raise GenotypeError(
          f"cell {i} must read two different cells among 1..{i - 1}, got {list(pair)}"
        )

  @property
  def num_cells(self) -> int:
    """The number of cells of the network."""
    return len(self.inputs) + 2

  def to_string(self) -> str:
    """``ops=a,b,c;inputs=j+k,...`` (one ``j+k`` per cell from 3 on)."""
    pairs = ",".join(f"{a}+{b}" for a, b in self.inputs)
    return f"ops={','.join(self.ops)};inputs={pairs}"

  def __str__(self) -> str:
    return self.to_string()

  @classmethod
  def from_string(cls, text: str) -> DLSRGenotype:
    """Parses :meth:`to_string`'s form."""
    parts = dict(p.partition("=")[::2] for p in text.strip().split(";"))
    if set(parts) != {"ops", "inputs"}:
      raise GenotypeError(f"a DLSR genotype string reads 'ops=...;inputs=...', got {text!r}")
    pairs = [p.split("+") for p in parts["inputs"].split(",")]
    if not all(len(p) == 2 and all(s.strip().isdigit() for s in p) for p in pairs):
      raise GenotypeError(f"DLSR inputs must be 'j+k' pairs of cell numbers, got {text!r}")
    return cls(tuple(parts["ops"].split(",")), tuple(tuple(map(int, p)) for p in pairs))

  def to_dict(self) -> dict[str, Any]:
    return {
      "space": self.space,
      "arch_str": self.to_string(),
      "ops": list(self.ops),
      "inputs": [list(p) for p in self.inputs],
    }

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> DLSRGenotype:
    if not isinstance(data, dict) or data.get("space", cls.space) != cls.space:
      raise GenotypeError(f"this genotype is not for space {cls.space!r}: {data!r}")
    if "arch_str" in data:
      genotype = cls.from_string(data["arch_str"])
      if "ops" in data and cls(data["ops"], data.get("inputs", ())) != genotype:
        raise GenotypeError("the genotype's 'arch_str' and 'ops'/'inputs' disagree")
      return genotype
    if "ops" in data and "inputs" in data:
      return cls(data["ops"], data["inputs"])
    raise GenotypeError("a DLSR genotype dict needs 'arch_str' or 'ops' and 'inputs'")

  @classmethod
  def from_json(cls, text: str) -> DLSRGenotype:
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


def derive_genotype(probs: dict[str, Any], op_names: Sequence[str] = DLSR_OPS) -> DLSRGenotype:
  """The argmax genotype of mixing weights (or logits) ``{'cell': (3, O), 'network': (R, N-1)}``.

  Slot 1 of each cell skips the cell slot 0 took; ties go to the lower column.
  """
  cell, net = np.asarray(probs["cell"]), np.asarray(probs["network"])
  num_cells = net.shape[-1] + 1
  expected = alpha_shapes(num_cells, op_names)
  if cell.shape != expected["cell"] or net.shape != expected["network"]:
    raise ValueError(f"DLSR weights must have shapes {expected}, got {cell.shape}, {net.shape}")
  ops_ = tuple(op_names[int(np.argmax(row))] for row in cell)
  inputs = []
  for i in range(3, num_cells + 1):
    first = int(np.argmax(net[2 * (i - 3), : i - 1]))
    second_row = net[2 * (i - 3) + 1, : i - 1].astype(np.float64)
    second_row[first] = -np.inf
    inputs.append((first + 1, int(np.argmax(second_row)) + 1))
  return DLSRGenotype(ops_, tuple(inputs))


def genotype_weights(
  genotype: DLSRGenotype, op_names: Sequence[str] = DLSR_OPS
) -> dict[str, np.ndarray]:
  """One-hot float32 mixing weights under which the supernet computes ``genotype``'s network."""
  missing = [o for o in genotype.ops if o not in op_names]
  if missing:
    raise GenotypeError(f"the genotype uses op(s) {missing} that are not candidates {op_names}")
  shapes = alpha_shapes(genotype.num_cells, op_names)
  cell, net = np.zeros(shapes["cell"], np.float32), np.zeros(shapes["network"], np.float32)
  for p, o in enumerate(genotype.ops):
    cell[p, list(op_names).index(o)] = 1.0
  for i, pair in enumerate(genotype.inputs):
    for slot, j in enumerate(pair):
      net[2 * i + slot, j - 1] = 1.0
  return {"cell": cell, "network": net}


def op_costs(
  scale: int,
  features: int = DEFAULT_FEATURES,
  num_cells: int = DEFAULT_NUM_CELLS,
  op_names: Sequence[str] = DLSR_OPS,
) -> dict[str, np.ndarray]:
  """Multiply-adds of every candidate on every alpha row, for a 1280x720 output.

  A ``'cell'`` entry is the op's cost at the LR size
  (:func:`nasjax.spaces.sr.ops.cost_lr_size`) times ``num_cells`` (each cell
  runs it); ``'network'`` entries are 0 (every derived cell reads two inputs).
  """
  h, w = cost_lr_size(scale)
  row = np.array([num_cells * op_macs(o, features, h, w) for o in op_names], np.float64)
  shapes = alpha_shapes(num_cells, op_names)
  return {"cell": np.tile(row, (NUM_POSITIONS, 1)), "network": np.zeros(shapes["network"])}
