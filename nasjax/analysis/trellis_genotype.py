"""The figure of a trellis (Auto-DeepLab) genotype: its cell and its path through the levels.

The cell is drawn as the DARTS cells are (:mod:`nasjax.analysis.cell_graph`:
an arc diagram, inputs ``c_{k-2}``, ``c_{k-1}``, blocks ``0..B-1``, the
output concatenating every block); the path is the level (downsample rate)
of each layer's cell, over the trellis of every node it could have taken.

Example:
  >>> from nasjax.spaces.trellis.genotype import TrellisGenotype
  >>> g = TrellisGenotype.from_string('trellis:path=0,1,1;cell=skip_connect~0,sep_conv_3x3~1')
  >>> fig = plot_trellis_genotype(g, levels=3)
  >>> fig.axes[1].lines[-1].get_ydata().tolist()  # the stem's level, then each layer's
  [0, 0, 1, 1]
"""

from __future__ import annotations

import textwrap

from matplotlib.figure import Figure

from nasjax.analysis.cell_graph import _cell_size, _draw_cell
from nasjax.spaces.trellis.genotype import TrellisGenotype
from nasjax.spaces.trellis.layout import levels_at


def trellis_cell_graph(genotype: TrellisGenotype) -> tuple[list[str], list[tuple[str, str, str]]]:
  """The nodes and ``(source, destination, op)`` edges of the genotype's cell.

  Inputs 0 and 1 of a block are the cell inputs ``c_{k-2}`` and ``c_{k-1}``,
  input ``j >= 2`` is block ``j - 2``; every block reaches the output
  ``c_{k}`` through an edge of op ``'concat'``.
  """
  states = ["c_{k-2}", "c_{k-1}"] + [str(b) for b in range(genotype.blocks)] + ["c_{k}"]
  nodes = [f"cell/{s}" for s in states]
  edges = [(nodes[j], nodes[2 + i // 2], op) for i, (op, j) in enumerate(genotype.cell)]
  edges += [(nodes[2 + b], nodes[-1], "concat") for b in range(genotype.blocks)]
  return nodes, edges


def plot_trellis_genotype(genotype: TrellisGenotype, levels: int | None = None) -> Figure:
  """The genotype's cell (arc diagram) and its path of levels over the layers.

  Args:
    genotype: the trellis genotype.
    levels: the trellis' levels (``config.space.levels``), for the nodes the
      path could have taken; the path's highest level plus one by default.
  """
  nodes, edges = trellis_cell_graph(genotype)
  width, height = _cell_size(nodes, edges)
  levels = max(levels or 0, max(genotype.path) + 1)
  fig = Figure(figsize=(max(width, 0.75 * genotype.layers + 2.5, 8.0), height + 0.6 * levels + 2.0))
  cell, path = fig.subplots(2, 1, height_ratios=[height, 0.6 * levels + 0.9])
  _draw_cell(
    cell, nodes, edges, "the cell (the same in every layer; inputs: the two layers before)"
  )
  for layer in range(-1, genotype.layers):
    ys = list(levels_at(layer, levels))
    path.scatter([layer] * len(ys), ys, s=30, color="0.8", zorder=1)
  xs, ys = [-1, *range(genotype.layers)], [0, *genotype.path]
  path.plot(xs, ys, "o-", color="C3", lw=2.2, ms=6, zorder=2)
  path.set_xticks(xs, ["stem", *map(str, range(genotype.layers))])
  path.set_yticks(range(levels), [f"1/{4 * 2**s}" for s in range(levels)])
  path.set_ylim(levels - 0.5, -0.5)  # coarser levels lower
  path.set_xlabel("layer")
  path.set_ylabel("resolution (× input)")
  path.grid(alpha=0.3)
  path.set_title("the network-level path: the resolution of each layer's cell (grey: the others)")
  fig.suptitle("Trellis (Auto-DeepLab) genotype", fontsize=12)
  lines = textwrap.wrap(str(genotype).replace("|", "| "), 150, break_on_hyphens=False)
  fig.supxlabel("\n".join(line.replace("| ", "|") for line in lines), fontsize=8, color="0.3")
  fig.set_layout_engine("constrained")
  return fig
