"""The cell graph of a genotype, drawn with graphviz or matplotlib.

:func:`genotype_graph` lists a genotype's edges; :func:`genotype_dot` writes
them as graphviz source; :func:`plot_genotype` draws them with matplotlib
(an arc diagram per cell); :func:`genotype_png` renders with graphviz's
``dot`` when it is installed and falls back to matplotlib. Also the figure
basics every plot of :mod:`nasjax.analysis.plots` shares (op colours, saving on the
Agg canvas).

Example:
  >>> from nasjax.spaces.nb201.genotype import NB201Genotype
  >>> g = NB201Genotype.from_edges(
  ...     ['nor_conv_3x3', 'none', 'skip_connect', 'none', 'none', 'avg_pool_3x3'])
  >>> genotype_graph(g)
  [('0', '1', 'nor_conv_3x3'), ('1', '2', 'skip_connect'), ('2', '3', 'avg_pool_3x3')]
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from nasjax.spaces.darts.genotype import DartsGenotype
from nasjax.spaces.nb201.genotype import NB201Genotype

Genotype = NB201Genotype | DartsGenotype
Edge = tuple[str, str, str]
log = logging.getLogger(__name__)
CELL_TITLES = {"normal": "normal cell", "reduce": "reduction cell", "cell": "cell"}

#: The colour of an op wherever it appears (ops that never share a space may share a
#: colour: :func:`op_colors` gives a later one of a figure another).
OP_COLORS = {
  "none": "#9e9e9e",
  "skip_connect": "#d62728",
  "nor_conv_1x1": "#1f77b4",
  "nor_conv_3x3": "#2ca02c",
  "avg_pool_3x3": "#9467bd",
  "max_pool_3x3": "#8c564b",
  "sep_conv_3x3": "#2ca02c",
  "sep_conv_5x5": "#17becf",
  "dil_conv_3x3": "#ff7f0e",
  "dil_conv_5x5": "#e377c2",
  "noise": "#bcbd22",
  "conv_3x3": "#1f77b4",
  "conv_5x5": "#9467bd",
}
_DPI = 120


def _color(op: str, index: int = 0) -> str:
  """The op's own colour, else the ``index``-th of the fallback colours."""
  return OP_COLORS.get(op, _PALETTE[index % len(_PALETTE)])


def _lab(color: str) -> np.ndarray:
  """CIELAB coordinates (D65) of a colour: distances in it follow perceived differences."""
  rgb = np.asarray(to_rgb(color))
  linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
  xyz = _SRGB_TO_XYZ @ linear / np.array([0.95047, 1.0, 1.08883])
  f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
  return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def color_distance(a: str, b: str) -> float:
  """The perceived difference of two colours (CIE76 delta E: about 2.3 is just noticeable)."""
  return float(np.linalg.norm(_lab(a) - _lab(b)))


def op_colors(names: list[str]) -> list[str]:
  """One colour per op of ``names``, each its own and none hard to tell from another.

  An op keeps its colour of :data:`OP_COLORS` unless an earlier op of
  ``names`` has that colour; every other op takes, in order, the fallback
  colour farthest (:func:`color_distance`) from the colours already taken
  and from the white background. Past the 69 fallbacks colours repeat.

  Example:
    >>> op_colors(['skip_connect', 'none'])
    ['#d62728', '#9e9e9e']
  """
  unique = list(dict.fromkeys(names))
  chosen: dict[str, str] = {}
  for name in unique:
    own = OP_COLORS.get(name)
    if own is not None and own not in chosen.values():
      chosen[name] = own
  taken = [_lab("white")] + [_lab(c) for c in chosen.values()]
  for name in unique:
    if name in chosen:
      continue
    free = [c for c in _PALETTE if c not in chosen.values()] or _PALETTE
    spread = [min(float(np.linalg.norm(_lab(c) - t)) for t in taken) for c in free]
    chosen[name] = free[int(np.argmax(spread))]
    taken.append(_lab(chosen[name]))
  return [chosen[n] for n in names]


_SRGB_TO_XYZ = np.array(
  [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
)
#: Fallback colours for ops without their own: tab10, tab20 (its light shades), tab20b,
#: tab20c, Dark2 and Set1, without those too light to see on white (69 colours).
_PALETTE = [
  c
  for c in dict.fromkeys(
    [to_hex(f"C{i}") for i in range(10)]
    + [to_hex(colormaps[name](i)) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    + [to_hex(colormaps["Dark2"](i)) for i in range(8)]
    + [to_hex(colormaps["Set1"](i)) for i in range(9)]
  )
  if _lab(c)[0] < 85
]


def _save(fig: Figure, path: Path) -> Path:
  FigureCanvasAgg(fig)
  fig.savefig(path, dpi=_DPI, metadata={"Software": None})
  fig.clear()
  return path


def _tex(state: str) -> str:
  """A state name as matplotlib mathtext (``c_{k-1}`` -> ``$c_{k-1}$``)."""
  return f"${state}$" if state.startswith("c_") else state


def _darts_state(j: int) -> str:
  return ("c_{k-2}", "c_{k-1}")[j] if j < 2 else str(j - 2)


def genotype_graph(genotype: Genotype, include_none: bool = False) -> list[Edge]:
  """The edges ``(source, destination, op)`` of a genotype's cell graph.

  NAS-Bench-201: nodes ``'0'`` (the cell input) to ``'3'`` (the output),
  edge ``j -> i`` for every ``(op, j)`` of node ``i``. DARTS: the nodes of
  each cell are prefixed ``'normal/'`` or ``'reduce/'``: the inputs
  ``c_{k-2}`` and ``c_{k-1}``, the intermediate nodes ``'0'..'steps-1'`` and
  the output ``c_{k}``, which the concatenated states reach through edges
  of op ``'concat'``. Edges of op ``none`` are left out unless
  ``include_none``.
  """
  edges: list[Edge] = []
  if isinstance(genotype, NB201Genotype):
    for i, node in enumerate(genotype.nodes, start=1):
      edges += [(str(j), str(i), op) for op, j in node if include_none or op != "none"]
    return edges
  for cell in ("normal", "reduce"):
    for index, (op, j) in enumerate(getattr(genotype, cell)):
      if include_none or op != "none":
        edges.append((f"{cell}/{_darts_state(j)}", f"{cell}/{index // 2}", op))
    for c in getattr(genotype, f"{cell}_concat"):
      edges.append((f"{cell}/{_darts_state(c)}", f"{cell}/c_{{k}}", "concat"))
  return edges


def _q(text: str) -> str:
  return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node_fill(name: str) -> str:
  """Inputs blue, intermediate nodes yellow, the output green (NAS-Bench-201: node 0 in, 3 out)."""
  if "/" not in name:
    return {"0": "lightblue", "3": "palegreen"}.get(name, "lightyellow")
  state = name.split("/")[-1]
  return (
    "palegreen" if state == "c_{k}" else "lightblue" if state.startswith("c_") else "lightyellow"
  )


def genotype_dot(genotype: Genotype) -> str:
  """The graphviz DOT source of a genotype's cell graph (``none`` edges dashed)."""
  edges = genotype_graph(genotype, include_none=True)
  lines = [
    "digraph genotype {",
    '  rankdir=LR; fontname="Helvetica"; fontsize=18;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=14, penwidth=1.5];',
    '  edge [fontname="Helvetica", fontsize=12, penwidth=1.5];',
  ]
  if isinstance(genotype, NB201Genotype):
    groups = {"NAS-Bench-201 cell": [str(i) for i in range(4)]}
  else:
    states = ["c_{k-2}", "c_{k-1}"] + [str(s) for s in range(genotype.steps)] + ["c_{k}"]
    # dot stacks the unconnected cells of a left-to-right graph bottom-up: reduce first.
    groups = {CELL_TITLES[c]: [f"{c}/{s}" for s in states] for c in ("reduce", "normal")}
  for i, (title, nodes) in enumerate(groups.items()):
    lines.append(f"  subgraph cluster_{i} {{")
    lines.append(f"    label={_q(title)}; style=rounded; color=gray60;")
    for node in nodes:
      label = node.split("/")[-1]
      lines.append(f"    {_q(node)} [label={_q(label)}, fillcolor={_node_fill(node)}];")
    lines.append("  }")
  for src, dst, op in edges:
    if op == "concat":
      attrs = "color=gray50"
    else:
      attrs = f"label={_q(op)}, color={_q(_color(op))}, fontcolor={_q(_color(op))}"
      attrs += ", style=dashed" if op == "none" else ""
    lines.append(f"  {_q(src)} -> {_q(dst)} [{attrs}];")
  lines.append("}")
  return "\n".join(lines) + "\n"


def _states(genotype: Genotype, cell: str) -> list[str]:
  """The nodes of one cell of the genotype graph, in the order they are computed."""
  if isinstance(genotype, NB201Genotype):
    return [str(i) for i in range(4)]
  states = ["c_{k-2}", "c_{k-1}"] + [str(s) for s in range(genotype.steps)] + ["c_{k}"]
  return [f"{cell}/{s}" for s in states]


_UNIT_IN = 1.4  # inches between neighbouring nodes
_EDGE_LABEL = dict(
  fontsize=8.5,
  ha="center",
  va="center",
  zorder=2.5,
  bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9),
)


def _draw_cell(ax: Any, nodes: list[str], edges: list[Edge], title: str) -> None:
  """An arc diagram: the nodes on a line, op edges as arcs above it, concat edges below.

  An arc of span ``s`` peaks ``0.35 s`` above the line, where its label sits:
  labels of arcs of equal span are a node apart, of different spans at least
  one label height apart, and no arc passes through a node.
  """
  radius_pt = 16.0
  for x0, x1, rad, op in _arcs(nodes, edges):
    if op == "concat":
      style = dict(color="0.6", lw=1.0, ls="-")
    else:
      style = dict(color=_color(op), lw=1.7, ls="--" if op == "none" else "-")
    shape = dict(arrowstyle="-|>", mutation_scale=13, shrinkA=radius_pt, shrinkB=radius_pt)
    ax.add_patch(
      FancyArrowPatch((x0, 0), (x1, 0), connectionstyle=f"arc3,rad={rad}", **shape, **style)
    )
    if op != "concat":  # the apex of arc3: the midpoint moved by rad/2 * (dy, -dx)
      ax.text((x0 + x1) / 2, -rad / 2 * (x1 - x0), op, color=_color(op), **_EDGE_LABEL)
  for xi, name in enumerate(nodes):
    ax.scatter([xi], [0.0], s=(2 * radius_pt) ** 2, c=_node_fill(name), edgecolors="k", zorder=3)
    ax.text(xi, 0.0, _tex(name.split("/")[-1]), ha="center", va="center", fontsize=10, zorder=4)
  ax.set_xlim(-0.5, len(nodes) - 0.5)
  ax.set_ylim(*_extent(nodes, edges))
  ax.set_aspect("equal")
  ax.set_axis_off()
  ax.set_title(title, fontsize=11)


def _arcs(nodes: list[str], edges: list[Edge]) -> list[tuple[float, float, float, str]]:
  """``(x0, x1, rad, op)`` of every edge: ops arc above the line, a second edge between the
  same two nodes higher; concat edges arc below."""
  arcs, seen = [], set()
  for src, dst, op in edges:
    if op == "concat":
      rad = 0.3
    else:
      rad = -1.0 if (src, dst) in seen else -0.7
      seen.add((src, dst))
    arcs.append((float(nodes.index(src)), float(nodes.index(dst)), rad, op))
  return arcs


def _extent(nodes: list[str], edges: list[Edge]) -> tuple[float, float]:
  """The lowest and highest points (in node spacings) of a cell's arc diagram."""
  heights = [-rad / 2 * (x1 - x0) for x0, x1, rad, _ in _arcs(nodes, edges)]
  return min(heights + [0.0]) - 0.4, max(heights + [0.3]) + 0.3


def _cell_size(nodes: list[str], edges: list[Edge]) -> tuple[float, float]:
  low, high = _extent(nodes, edges)
  return _UNIT_IN * len(nodes), _UNIT_IN * (high - low) + 0.45


def plot_genotype(genotype: Genotype) -> Figure:
  """The genotype's cell graph drawn with matplotlib (the fallback when graphviz is absent)."""
  edges = genotype_graph(genotype, include_none=True)
  if isinstance(genotype, NB201Genotype):
    nodes = _states(genotype, "")
    width, height = _cell_size(nodes, edges)
    fig = Figure(figsize=(max(width, 7.5), height + 0.3))
    ax = fig.subplots()
    _draw_cell(ax, nodes, edges, "NAS-Bench-201 cell")
    ax.text(0.5, 0.0, str(genotype), transform=ax.transAxes, ha="center", va="top", fontsize=8)
    fig.set_layout_engine("constrained")
    return fig
  cells = {c: [e for e in edges if e[0].startswith(c + "/")] for c in ("normal", "reduce")}
  sizes = [_cell_size(_states(genotype, c), cells[c]) for c in cells]
  fig = Figure(figsize=(max(w for w, _ in sizes), sum(h for _, h in sizes)))
  axes = fig.subplots(2, 1, height_ratios=[h for _, h in sizes])
  for ax, (cell, cell_edges) in zip(axes, cells.items(), strict=True):
    _draw_cell(ax, _states(genotype, cell), cell_edges, CELL_TITLES[cell])
  fig.set_layout_engine("constrained")
  return fig


def genotype_png(genotype: Genotype, out_dir: Path) -> dict[str, Path]:
  """Writes ``genotype.png`` (and ``genotype.dot`` when graphviz drew it) into ``out_dir``."""
  png = out_dir / "genotype.png"
  dot = shutil.which("dot")
  if dot:
    source = out_dir / "genotype.dot"
    source.write_text(genotype_dot(genotype))
    try:
      cmd = [dot, "-Tpng", "-Gdpi=110", "-o", str(png), str(source)]
      subprocess.run(cmd, check=True, capture_output=True, timeout=120)
      return {"genotype": png, "genotype_dot": source}
    except (OSError, subprocess.SubprocessError) as e:
      log.warning("graphviz could not render %s (%s); drawing it with matplotlib", source, e)
      return {"genotype": _save(plot_genotype(genotype), png), "genotype_dot": source}
  return {"genotype": _save(plot_genotype(genotype), png)}
