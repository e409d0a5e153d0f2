"""The trellis space's ``config.space``: fields, defaults, validation, alpha layout.

The fields and their defaults (Auto-DeepLab's search settings) are listed in
:mod:`nasjax.spaces.trellis.space`.

Example:
  >>> cfg = default_space_config()
  >>> validate(cfg)
  >>> edge_op_names(cfg)['network3'][0]
  ('up', 'same', 'down')
"""

from __future__ import annotations

from typing import Any

import ml_collections

from nasjax.checks import boolean, check, integer, is_int, known_fields
from nasjax.errors import ConfigError
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.trellis import layout as layout
from nasjax.spaces.trellis.genotype import TrellisGenotype

SpaceConfig = Any  # an ml_collections.ConfigDict: config.space

#: The ``config.space`` fields and their defaults (Auto-DeepLab's search settings).
DEFAULTS: dict[str, Any] = dict(
  name="trellis", num_classes=19, layers=12, blocks=5, filter_multiplier=8, levels=4,
  stem_channels=64, aspp_channels=256, aspp_rate=24, ops=DARTS_OPS, track_running_stats=False,
  pruned_transitions=(), pruned_ops=(),
)  # fmt: skip

_POSITIVE = (
  "num_classes", "layers", "blocks", "filter_multiplier", "stem_channels", "aspp_channels",
  "aspp_rate",
)  # fmt: skip


def default_space_config() -> ml_collections.ConfigDict:
  """``config.space`` with :data:`DEFAULTS` (Auto-DeepLab's search settings)."""
  return ml_collections.ConfigDict(dict(DEFAULTS))


def runlocal_space() -> dict[str, Any]:
  """Fields that shrink the supernet to CPU size (same candidates, a 3x3-level trellis).

  Cells of one block (two mixed edges each): XLA compiles every transition's
  cell on its own, and one block keeps the whole runlocal search to about
  4 minutes of CPU time.
  """
  return dict(
    layers=3, blocks=1, filter_multiplier=2, levels=3, stem_channels=8, aspp_channels=16,
    aspp_rate=4,
  )  # fmt: skip


def field_value(cfg: SpaceConfig, field: str) -> Any:
  """``cfg[field]``, or its default where ``cfg`` lacks the field."""
  return cfg.get(field, DEFAULTS[field])


def op_names(cfg: SpaceConfig) -> tuple[str, ...]:
  """The cell candidates of ``config.space.ops`` in DARTS' column order."""
  chosen = tuple(field_value(cfg, "ops"))
  return tuple(op for op in DARTS_OPS if op in chosen)


def num_edges(cfg: SpaceConfig) -> int:
  """E, the edges of a cell: ``sum_{i < blocks} (i + 2)``."""
  return len(darts.cell_edges(field_value(cfg, "blocks")))


def alpha_shapes(cfg: SpaceConfig) -> dict[str, tuple[int, int]]:
  """``{'cell': (E, O), 'network2': (n2, 2), 'network3': (n3, 3)}`` (no key without rows)."""
  shapes = {"cell": (num_edges(cfg), len(op_names(cfg)))}
  shapes.update(layout.network_shapes(field_value(cfg, "layers"), field_value(cfg, "levels")))
  return shapes


def edge_op_names(cfg: SpaceConfig) -> dict[str, tuple[tuple[str, ...], ...]]:
  """The columns of every row: the cell candidates, and each network row's moves."""
  out = {"cell": (op_names(cfg),) * num_edges(cfg)}
  out.update(layout.row_moves(field_value(cfg, "layers"), field_value(cfg, "levels")))
  return out


def pruned_transitions(cfg: SpaceConfig) -> tuple[tuple[int, int, int], ...]:
  """``config.space.pruned_transitions`` as sorted ``(l, t, s)`` tuples."""
  return tuple(sorted(tuple(int(v) for v in tr) for tr in field_value(cfg, "pruned_transitions")))


def pruned_ops(cfg: SpaceConfig) -> tuple[tuple[int, str], ...]:
  """``config.space.pruned_ops`` as sorted ``(edge, op)`` tuples."""
  return tuple(sorted((int(e), str(op)) for e, op in field_value(cfg, "pruned_ops")))


def validate(cfg: SpaceConfig) -> None:
  """Raises ConfigError, naming the field, for an invalid trellis ``config.space``."""
  known_fields(cfg, set(DEFAULTS), "config.space", " for space 'trellis'")
  for field in _POSITIVE:
    integer(field_value(cfg, field), f"config.space.{field}", low=1)
  levels = field_value(cfg, "levels")
  check(
    is_int(levels) and levels >= 2,
    f"config.space.levels must be an integer >= 2 (a trellis needs two levels), got {levels!r}",
  )
  boolean(field_value(cfg, "track_running_stats"), "config.space.track_running_stats")
  ops = field_value(cfg, "ops")
  check(
    not isinstance(ops, str),
    f"config.space.ops must be a list of op names, got the string {ops!r}",
  )
  ops = tuple(ops)
  bad = [op for op in ops if op not in DARTS_OPS]
  check(not bad, f"unknown op(s) {bad} in config.space.ops; trellis ops are {list(DARTS_OPS)}")
  check(
    len(set(ops)) == len(ops) and bool(set(ops) - {"none"}),
    f"config.space.ops must list distinct ops with at least one besides 'none', got {list(ops)}",
  )
  _validate_pruning(cfg)


def _validate_pruning(cfg: SpaceConfig) -> None:
  layers, levels = field_value(cfg, "layers"), field_value(cfg, "levels")
  valid = set(layout.transitions(layers, levels))
  for tr in field_value(cfg, "pruned_transitions"):
    if (
      isinstance(tr, str)
      or len(tr) != 3
      or not all(is_int(v) for v in tr)
      or tuple(tr) not in valid
    ):
      raise ConfigError(
        f"config.space.pruned_transitions holds {tr!r}; each entry must be an [l, t, s] "
        f"transition of the trellis (layer l, source level t, target level s; the stem is t=0 "
        f"at l=0)"
      )
  edges, names = num_edges(cfg), set(op_names(cfg)) - {"none"}
  for item in field_value(cfg, "pruned_ops"):
    ok = not isinstance(item, str) and len(item) == 2 and is_int(item[0])
    if not (ok and 0 <= item[0] < edges and item[1] in names):
      raise ConfigError(
        f"config.space.pruned_ops holds {item!r}; each entry must be [edge, op] with edge in "
        f"0..{edges - 1} and op one of {sorted(names)}"
      )
  _, alive = layout.live_layout(layers, levels, frozenset(pruned_transitions(cfg)))
  if not any(layer == layers - 1 for layer, _ in alive):
    raise ConfigError(
      "config.space.pruned_transitions leaves no path from the stem to the last layer; "
      "prune fewer transitions"
    )


def check_genotype(genotype: TrellisGenotype, cfg: SpaceConfig) -> None:
  layers, levels, blocks = (
    field_value(cfg, "layers"),
    field_value(cfg, "levels"),
    field_value(cfg, "blocks"),
  )
  if genotype.layers != layers:
    raise GenotypeError(
      f"the genotype's path has {genotype.layers} layers but config.space.layers is {layers}"
    )
  if max(genotype.path) >= levels:
    raise GenotypeError(
      f"the genotype's path reaches level {max(genotype.path)} but config.space.levels is {levels}"
    )
  if genotype.blocks != blocks:
    raise GenotypeError(
      f"the genotype's cell has {genotype.blocks} blocks but config.space.blocks is {blocks}"
    )
  missing = sorted({op for op, _ in genotype.cell} - set(op_names(cfg)))
  if missing:
    raise GenotypeError(f"the genotype uses op(s) {missing} that config.space.ops does not list")
