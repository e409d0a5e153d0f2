"""Figures of super-resolution genotypes: IMDN's block and DLSR's cell and cell inputs.

:func:`plot_imdn_genotype` draws an information multi-distillation block
(IMDB) with the op chosen at each searched convolution ``c1..c4`` (and, for
per-block genotypes, a table of every block's ops); :func:`plot_dlsr_genotype`
draws the DLSR cell with the ops of its three steps and the network's cells
with the two earlier cells each one reads. Each op is drawn in its colour
of the alpha figure (:func:`~nasjax.analysis.cell_graph.op_colors` over the
search's candidates).

Example:
  >>> from nasjax.spaces.sr.imdn import IMDN_ORIGINAL
  >>> fig = plot_imdn_genotype(IMDN_ORIGINAL)
  >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith('c1')]
  ['c1  F→F\\nconv_3x3']
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from nasjax.analysis.cell_graph import op_colors
from nasjax.spaces.sr.dlsr_encoding import DLSRGenotype
from nasjax.spaces.sr.imdn import POSITIONS, IMDNGenotype

_INK = "0.25"


def _tint(color: str, amount: float = 0.72) -> tuple[float, float, float]:
  """``color`` mixed with white (``amount`` of white): a box fill its text reads on."""
  return tuple(float(c) for c in (1 - amount) * np.asarray(to_rgb(color)) + amount)


def _box(
  ax: Any, x: float, y: float, text: str, color: str = "0.6", w: float = 2.2, h: float = 1.0
) -> None:
  """A rounded box centred at ``(x, y)``: a light fill and a border in ``color``."""
  ax.add_patch(
    FancyBboxPatch(
      (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.15",
      fc=_tint(color), ec=color, lw=2.0, zorder=2,
    )
  )  # fmt: skip
  ax.text(x, y, text, ha="center", va="center", fontsize=9, zorder=3, linespacing=1.4)


def _arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], **style: Any) -> None:
  shape = dict(arrowstyle="-|>", mutation_scale=12, shrinkA=0, shrinkB=0, color=_INK, lw=1.3)
  ax.add_patch(FancyArrowPatch(start, end, **{**shape, **style}, zorder=1))


def _label(ax: Any, x: float, y: float, text: str, **kw: Any) -> None:
  ax.text(x, y, text, fontsize=8, color="0.3", zorder=3, **{"ha": "center", "va": "bottom", **kw})


def _colors(ops: Sequence[str], candidates: Sequence[str] | None) -> dict[str, str]:
  names = list(dict.fromkeys([*(candidates or ()), *ops]))
  return dict(zip(names, op_colors(names), strict=True))


def _caption(fig: Figure, note: str, genotype: Any) -> None:
  """A note and the genotype string (wrapped) under the figure; constrained layout."""
  lines = textwrap.wrap(str(genotype).replace("+", "+ "), 150, break_on_hyphens=False)
  text = "\n".join([note, *(line.replace("+ ", "+") for line in lines)])
  fig.supxlabel(text, fontsize=8, color="0.3", linespacing=1.5)
  fig.set_layout_engine("constrained")


def _finish(ax: Any, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
  ax.set_xlim(*xlim)
  ax.set_ylim(*ylim)
  ax.set_aspect("equal")
  ax.set_axis_off()


def _imdn_block(ax: Any, ops: Sequence[str] | None, colors: dict[str, str], sizes: Any) -> None:
  """An IMDB: c1..c4 in a row, the distilled parts down to the concat, CCA, c5, the skip."""
  f, d = sizes
  r = f"{f}−{d}" if isinstance(f, str) else str(f - d)
  channels = (f"{f}→{f}", f"{r}→{f}", f"{r}→{f}", f"{r}→{d}")
  top, bottom, xs = 2.0, 0.0, [2.4 + 3.0 * i for i in range(POSITIONS)]
  ax.text(0.0, top, "block\ninput", ha="center", va="center", fontsize=9)
  _arrow(ax, (0.55, top), (xs[0] - 1.1, top))
  for i, x in enumerate(xs):
    op = ops[i] if ops else None
    text = f"c{i + 1}  {channels[i]}\n{op if op else 'per block (table)'}"
    _box(ax, x, top, text, colors.get(op, "0.55") if op else "0.55")
    split = x + 1.5
    if i < POSITIONS - 1:
      _arrow(ax, (x + 1.1, top), (xs[i + 1] - 1.1, top))
      _label(ax, split, top + 0.08, f"{r} ch")
      _arrow(ax, (split, top), (split, bottom + 0.25))
      _label(ax, split + 0.12, (top + bottom) / 2 - 0.25, f"{d} ch", ha="left")
    else:
      _arrow(ax, (x, top - 0.5), (x, bottom + 0.25))
      _label(ax, x + 0.12, (top + bottom) / 2 - 0.25, f"{d} ch", ha="left")
  left, right = xs[0] + 1.2, xs[-1] + 0.3
  _box(ax, (left + right) / 2, bottom, f"concatenate (4×{d} channels)", "0.55", right - left, 0.5)
  cca, c5, plus = xs[-1] + 2.6, xs[-1] + 5.2, xs[-1] + 7.0
  _arrow(ax, (right, bottom), (cca - 1.1, bottom))
  _box(ax, cca, bottom, "contrast-aware\nchannel attention")
  _arrow(ax, (cca + 1.1, bottom), (c5 - 1.1, bottom))
  _box(ax, c5, bottom, f"c5  1×1\n4×{d}→{f}")
  _arrow(ax, (c5 + 1.1, bottom), (plus - 0.3, bottom))
  ax.add_patch(Circle((plus, bottom), 0.3, fc="white", ec=_INK, lw=1.3, zorder=2))
  ax.text(plus, bottom, "+", ha="center", va="center", fontsize=12, zorder=3)
  _arrow(ax, (0.0, top + 0.5), (0.0, top + 1.1), arrowstyle="-")
  _arrow(ax, (0.0, top + 1.1), (plus, top + 1.1), arrowstyle="-")
  _arrow(ax, (plus, top + 1.1), (plus, bottom + 0.3))
  _label(ax, xs[1], top + 1.18, "the block input (skip connection)")
  _arrow(ax, (plus + 0.3, bottom), (plus + 1.0, bottom))
  ax.text(plus + 1.1, bottom, "block\noutput", ha="left", va="center", fontsize=9)
  _finish(ax, (-0.8, plus + 2.3), (bottom - 0.8, top + 1.6))


def _imdn_table(ax: Any, genotype: IMDNGenotype, colors: dict[str, str]) -> None:
  """Rows: blocks; columns: c1..c4; each cell the chosen op on its colour."""
  blocks = len(genotype.ops) // POSITIONS
  for b in range(blocks):
    for i, op in enumerate(genotype.block_ops(b)):
      y = blocks - 1 - b
      _box(ax, 2.6 * i + 1.3, y, op, colors[op], w=2.4, h=0.8)
    ax.text(-0.3, blocks - 1 - b, f"block {b}", ha="right", va="center", fontsize=9)
  for i in range(POSITIONS):
    ax.text(2.6 * i + 1.3, blocks - 0.4, f"c{i + 1}", ha="center", va="bottom", fontsize=10)
  _finish(ax, (-1.8, 2.6 * POSITIONS + 0.1), (-0.6, blocks + 0.1))


def plot_imdn_genotype(
  genotype: IMDNGenotype, candidates: Sequence[str] | None = None, space_config: Any = None
) -> Figure:
  """An IMDB with the op of each searched convolution, and a table when blocks differ.

  Args:
    genotype: the IMDN genotype (shared or per block).
    candidates: the search's candidate ops (their colours are those of the
      alpha figure); the genotype's own ops by default.
    space_config: ``config.space`` for the channel widths (``features``,
      ``distill``) and the number of blocks; symbols ``F``, ``d`` without it.
  """
  colors = _colors(genotype.ops, candidates)
  f, d = ("F", "d") if space_config is None else (space_config.features, space_config.distill)
  blocks = len(genotype.ops) // POSITIONS
  if genotype.shared:
    count = None if space_config is None else space_config.num_blocks
    where = {None: "the same in every block", 1: "the network's only block"}.get(
      count, f"the same in all {count} blocks"
    )
    fig = Figure(figsize=(12.5, 3.6))
    _imdn_block(fig.subplots(), genotype.ops, colors, (f, d))
  else:
    where = f"each of the {blocks} blocks has its own (table)"
    fig = Figure(figsize=(12.5, 3.8 + 0.55 * blocks))
    top, table = fig.subplots(2, 1, height_ratios=[3.0, 0.55 * blocks + 0.6])
    _imdn_block(top, None, colors, (f, d))
    _imdn_table(table, genotype, colors)
  fig.suptitle(
    f"IMDN genotype: the op of each searched convolution c1–c4 of a block, {where}", fontsize=12
  )
  note = f"c1–c3 are followed by LeakyReLU(0.05) and split off their first {d} channels (ch)."
  _caption(fig, note, genotype)
  return fig


def _dlsr_cell(ax: Any, ops: Sequence[str], colors: dict[str, str]) -> None:
  """The cell: three steps (distil down, searched op with residual), conv_4, fuse, ESA."""
  top, bottom, xs = 2.0, 0.0, [2.4 + 3.2 * p for p in range(len(ops))]
  ax.text(0.0, top, "cell\ninput", ha="center", va="center", fontsize=9)
  prev = 0.55
  for p, (x, op) in enumerate(zip(xs, ops, strict=True)):
    split = x - 1.6
    _arrow(ax, (prev, top), (x - 1.1, top))
    _arrow(ax, (split, top), (split, bottom + 0.25))
    _label(ax, split + 0.12, (top + bottom) / 2 - 0.25, f"distill_{p + 1}\n1×1 → C/2", ha="left")
    _box(ax, x, top, f"step {p + 1}\n{op}\n+ residual, LReLU", colors[op], h=1.2)
    prev = x + 1.1
  c4 = xs[-1] + 3.2
  _arrow(ax, (prev, top), (c4 - 1.1, top))
  _box(ax, c4, top, "conv_4  3×3\n→ C/2")
  _arrow(ax, (c4, top - 0.5), (c4, bottom + 0.25))
  left, right = xs[0] - 1.8, c4 + 0.3
  _box(ax, (left + right) / 2, bottom, "concatenate (4 × C/2 channels)", "0.55", right - left, 0.5)
  fuse, esa = c4 + 2.6, c4 + 5.2
  _arrow(ax, (right, bottom), (fuse - 1.1, bottom))
  _box(ax, fuse, bottom, "fuse 1×1\n→ C")
  _arrow(ax, (fuse + 1.1, bottom), (esa - 1.1, bottom))
  _box(ax, esa, bottom, "enhanced spatial\nattention")
  _arrow(ax, (esa + 1.1, bottom), (esa + 1.8, bottom))
  ax.text(esa + 1.9, bottom, "cell\noutput", ha="left", va="center", fontsize=9)
  ax.set_title("the cell (the same in every cell)", fontsize=10)
  _finish(ax, (-0.8, esa + 3.1), (bottom - 0.7, top + 0.9))


def _dlsr_network(ax: Any, genotype: DLSRGenotype) -> None:
  """The cells on a line; arcs from the two earlier cells each cell from the third reads."""
  n = genotype.num_cells
  names = ["stem"] + [f"cell {i}" for i in range(1, n + 1)]
  xs = [2.2 * k for k in range(n + 1)]
  slots = (("C0", "input 1"), ("C1", "input 2"))
  high = 0.6
  for k in (1, 2):  # cells 1 and 2 read the output before them
    _arrow(ax, (xs[k - 1] + 0.75, 0), (xs[k] - 0.75, 0))
  for i, pair in enumerate(genotype.inputs, start=3):
    for (color, _), j in zip(slots, pair, strict=True):
      span = xs[i] - xs[j]
      rad = -0.45 if color == "C0" else -0.6
      high = max(high, -rad / 2 * span + 0.5)
      _arrow(ax, (xs[j], 0.35), (xs[i] - 0.1, 0.35), connectionstyle=f"arc3,rad={rad}", color=color)
  for x, name in zip(xs, names, strict=True):
    _box(ax, x, 0, name, "0.55", w=1.5, h=0.7)
  handles = [Line2D([], [], color=c, lw=1.5) for c, _ in slots]
  ax.legend(handles, [t for _, t in slots], loc="upper left", fontsize=8, frameon=False)
  ax.set_title(
    "the network: cells 1 and 2 read the cell before them, every later cell two earlier cells "
    "(a 1×1 conv over both)",
    fontsize=10,
  )
  _finish(ax, (-1.0, xs[-1] + 1.0), (-0.6, high + 0.3))


def plot_dlsr_genotype(genotype: DLSRGenotype, candidates: Sequence[str] | None = None) -> Figure:
  """DLSR's cell with the ops of its three steps, and the cell inputs of the network.

  Args:
    genotype: the DLSR genotype.
    candidates: the search's candidate ops (their colours are those of the
      alpha figure); the genotype's own ops by default.
  """
  colors = _colors(genotype.ops, candidates)
  fig = Figure(figsize=(13.0, 6.2))
  cell, network = fig.subplots(2, 1, height_ratios=[3.0, 2.4])
  _dlsr_cell(cell, genotype.ops, colors)
  _dlsr_network(network, genotype)
  fig.suptitle(
    "DLSR genotype: the searched op of each step of the cell, and the cells each cell reads",
    fontsize=12,
  )
  _caption(
    fig,
    "C: the network's features; every cell's output also feeds the aggregate 1×1 conv.",
    genotype,
  )
  return fig
