"""The alpha figures of a search workdir: op probabilities and top-2 margins per edge.

:func:`load_alphas` reads ``alphas.npz`` (alpha tensors renamed since the
file was written are read under their current names);
:func:`workdir_space` finds the search's space and ``config.space`` in its
``config.json``, from which :func:`alpha_labels` takes what every tensor and
row is (the space's :class:`~nasjax.spaces.base.EdgeNames`: ``node 1 ← node
0``, ``block 2 c3``, ...) and the candidates of every row. Without a config
the rows are ``edge 0``, ``edge 1``, ... in a plain grid.

:func:`plot_alphas` draws one panel per alpha row (laid out as the space's
grid: node by input, block by convolution), every candidate in its own
colour (:func:`~nasjax.analysis.cell_graph.op_colors`) and a dotted line
at the uniform probability; :func:`plot_margins` draws the top-2 margin of
every row.

Example:
  >>> import numpy as np
  >>> top2_margin(np.array([[0.5, 0.2, 0.3]]))
  array([0.2])
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from nasjax.analysis.cell_graph import op_colors
from nasjax.spaces.base import EdgeNames, SearchSpace
from nasjax.spaces.registry import SPACES

RowOps = tuple[tuple[str, ...], ...]
#: Line styles of the rows of one grid column in the margin figure, by grid row.
_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def workdir_space(workdir: str | Path) -> tuple[SearchSpace, ml_collections.ConfigDict] | None:
  """The registered space and ``config.space`` of the search in ``workdir``, or None.

  Reads ``config.json`` of ``workdir`` (or of the run above a multi-seed
  run's ``seed_<s>`` folder); None when there is none or its space is not
  registered.
  """
  workdir = Path(workdir)
  for folder in (workdir, workdir.parent):
    path = folder / "config.json"
    if path.is_file():
      try:
        space = json.loads(path.read_text()).get("space") or {}
      except (json.JSONDecodeError, AttributeError):
        return None
      if isinstance(space, dict) and space.get("name") in SPACES:
        return SPACES[space["name"]], ml_collections.ConfigDict(space)
      return None
  return None


def load_alphas(
  workdir: str | Path, found: tuple[SearchSpace, Any] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]] | None:
  """``(epochs, {tensor: (epochs, rows, candidates)}, op names)`` of ``alphas.npz``, or None.

  Tensors are sorted by name; an old tensor name of the space
  (``renamed_alphas``; ``found`` or else :func:`workdir_space`) is read
  under its current name.
  """
  workdir = Path(workdir)
  path = workdir / "alphas.npz"
  if not path.exists():
    return None
  with np.load(path) as d:
    names = sorted(k[: -len("_logits")] for k in d.files if k.endswith("_logits"))
    probs = {n: d[n] for n in names}
    epochs = d["epoch"]
    op_names = [str(o) for o in d["op_names"]] if "op_names" in d.files else []
  if not names or not len(epochs):
    return None
  found = found or workdir_space(workdir)
  if found is not None:
    probs = dict(sorted(found[0].current_names(probs).items()))
  widths = {p.shape[-1] for p in probs.values()}
  if len(op_names) not in widths:
    op_names = [f"op {o}" for o in range(max(widths))]
  return epochs, probs, op_names


def alpha_labels(
  found: tuple[SearchSpace, Any] | None, probs: dict[str, np.ndarray], op_names: list[str]
) -> tuple[dict[str, EdgeNames], dict[str, RowOps]]:
  """What every tensor and row of ``probs`` is, and the candidates of every row.

  From the space's ``edge_names`` and ``ops_per_row`` where ``found`` (a
  space and its ``config.space``) gives them for tensors of these shapes;
  else ``edge e`` rows and ``op_names`` (or ``name k`` columns) as candidates.
  """
  edges: dict[str, EdgeNames] = {}
  row_ops: dict[str, RowOps] = {}
  if found is not None:
    space, cfg = found
    try:
      edges, row_ops = space.edge_labels(cfg), space.ops_per_row(cfg)
    except (KeyError, AttributeError, TypeError, ValueError):  # a config of an older layout
      edges, row_ops = {}, {}
  out_edges, out_ops = {}, {}
  for name, p in probs.items():
    rows, width = p.shape[1], p.shape[-1]
    named = edges.get(name)
    out_edges[name] = named if named and len(named.rows) == rows else EdgeNames.plain(name, rows)
    ops = row_ops.get(name)
    if not (ops and len(ops) == rows and all(len(r) == width for r in ops)):
      columns = op_names if width == len(op_names) else [f"{name} {o}" for o in range(width)]
      ops = (tuple(columns),) * rows
    out_ops[name] = ops
  return out_edges, out_ops


def _grid(edges: EdgeNames) -> tuple[list[tuple[int, int]], int, int]:
  """The panel of every row, and the grid's rows and columns (six columns when plain).

  Grid rows and columns no alpha row uses are left out.
  """
  n = len(edges.rows)
  cells = list(edges.grid) if edges.grid is not None else [divmod(e, min(n, 6)) for e in range(n)]
  rows = {r: i for i, r in enumerate(sorted({r for r, _ in cells}))}
  cols = {c: i for i, c in enumerate(sorted({c for _, c in cells}))}
  return [(rows[r], cols[c]) for r, c in cells], len(rows), len(cols)


def _math(label: str) -> str:
  """Cell states such as ``c_{k-1}`` of a row name as matplotlib mathtext."""
  return re.sub(r"c_\{[^}]*\}", lambda m: f"${m.group(0)}$", label)


def _candidates(ops: RowOps) -> list[str]:
  """The candidates of a tensor's rows, in order of first appearance."""
  return list(dict.fromkeys(op for row in ops for op in row))


def plot_alphas(
  epochs: np.ndarray,
  probs: dict[str, np.ndarray],
  op_names: list[str],
  edges: dict[str, EdgeNames] | None = None,
  row_ops: dict[str, RowOps] | None = None,
) -> Figure:
  """Probabilities per alpha row over epochs: one panel per row, one block per tensor.

  Args:
    epochs: the epochs, ``(T,)``.
    probs: ``{tensor: (T, rows, candidates)}``.
    op_names: the candidates of the legend below the figure.
    edges: what every tensor and row is (:func:`alpha_labels`); generic by default.
    row_ops: the candidates of every row; ``op_names`` by default. A tensor
      whose candidates are not ``op_names`` gets a legend of its own.

  Every candidate keeps one colour in the whole figure, no two the same; a
  dotted line marks the uniform probability ``1 / candidates``.
  """
  if edges is None or row_ops is None:
    generic_edges, generic_ops = alpha_labels(None, probs, op_names)
    edges, row_ops = edges or generic_edges, row_ops or generic_ops
  op_names = list(op_names)
  shown = [n for n in probs if _candidates(row_ops[n]) == op_names]  # the legend below
  everything = [*(op_names if shown else []), *(o for n in probs for o in _candidates(row_ops[n]))]
  everything = list(dict.fromkeys(everything))
  colors = dict(zip(everything, op_colors(everything), strict=True))
  grids = {n: _grid(edges[n]) for n in probs}
  cols = max(c for *_, c in grids.values())
  heights = [r for _, r, _ in grids.values()]
  width = 1.9 * cols + 0.6
  side = any(_candidates(row_ops[n]) != op_names for n in probs)  # a legend on the right
  fig = Figure(figsize=(width + 1.6 * side, 1.45 * sum(heights) + 0.9 * len(probs) + 1.0))
  fig.set_layout_engine("constrained")
  subfigs = fig.subfigures(len(probs), 1, height_ratios=[h + 0.7 for h in heights], squeeze=False)
  marker = "o" if len(epochs) <= 25 else None
  for subfig, (name, p) in zip(subfigs[:, 0], probs.items(), strict=True):
    names, ops = edges[name], row_ops[name]
    cells, nrows, _ = grids[name]
    axes = subfig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False)
    uniform = 1.0 / p.shape[-1]
    # The y range of the data and the uniform line (near-uniform alphas stay
    # distinguishable), within [0, 1].
    low, high = min(float(p.min()), uniform), max(float(p.max()), uniform)
    pad = max(0.08 * (high - low), 1e-4)
    for e, (r, c) in enumerate(cells):
      ax = axes[r, c]
      ax.axhline(uniform, color="0.35", ls=":", lw=1.0, zorder=1)
      for o, op in enumerate(ops[e]):
        ax.plot(epochs, p[:, e, o], color=colors[op], lw=1.4, marker=marker, ms=2.5, zorder=2)
      ax.set_title(_math(names.rows[e]), fontsize=9)
      ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))
      ax.xaxis.set_major_locator(MaxNLocator(integer=True))
      ax.grid(alpha=0.3)
    for r in range(nrows):
      for c in range(cols):
        if (r, c) not in cells:
          axes[r, c].set_visible(False)
      first = min((c for rr, c in cells if rr == r), default=None)
      if first is not None:
        axes[r, first].set_ylabel("probability", fontsize=8)
        axes[r, first].yaxis.set_tick_params(labelleft=True)
    for c in range(cols):  # the x label under the lowest panel of every column
      lowest = max((r for r, cc in cells if cc == c), default=None)
      if lowest is not None:
        axes[lowest, c].set_xlabel("epoch", fontsize=8)
        axes[lowest, c].xaxis.set_tick_params(labelbottom=True)
    own = _candidates(ops)
    what = f"{names.candidates} probabilities per {names.kind}"
    subfig.suptitle(f"{_math(names.title)}: {what}", fontsize=11)
    if own != op_names:  # candidates of its own (DLSR's cell inputs, trellis moves)
      handles = [Line2D([], [], color=colors[o], lw=2) for o in own]
      handles.append(Line2D([], [], color="0.35", ls=":", lw=1.0))
      labels = [*own, f"uniform (1/{p.shape[-1]})"]
      subfig.legend(handles, labels, loc="outside right center", fontsize=8)
  if shown:
    k = probs[shown[0]].shape[-1]
    handles = [Line2D([], [], color=colors[o], lw=2) for o in op_names]
    handles.append(Line2D([], [], color="0.35", ls=":", lw=1.0))
    labels = [*op_names, f"uniform (1/{k})"]
    per_row = max(1, min(len(labels), int(width / 1.9)))
    ncols = -(-len(labels) // -(-len(labels) // per_row))  # rows as even as they can be
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=9)
  return fig


def top2_margin(probs: np.ndarray) -> np.ndarray:
  """The largest minus the second-largest op probability of every edge (last axis = ops)."""
  top = np.sort(probs, axis=-1)
  return top[..., -1] - top[..., -2]


def plot_margins(
  epochs: np.ndarray, probs: dict[str, np.ndarray], edges: dict[str, EdgeNames] | None = None
) -> Figure:
  """Top-2 margin per alpha row over epochs: one line per row, one panel per tensor.

  A row's line has the colour of its grid column and the style of its grid
  row (input and node, convolution and block).
  """
  edges = edges or {n: EdgeNames.plain(n, p.shape[1]) for n, p in probs.items()}
  n = len(probs)
  fig = Figure(figsize=(7.6 * n + 0.6, 4.8))
  fig.set_layout_engine("constrained")
  axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
  for ax, (name, p) in zip(axes, probs.items(), strict=True):
    names = edges[name]
    cells, *_ = _grid(names)
    margin = top2_margin(p)
    for e, (row, col) in enumerate(cells):
      style = _STYLES[row % len(_STYLES)]
      label = _math(names.rows[e])
      ax.plot(epochs, margin[:, e], color=f"C{col % 10}", ls=style, lw=1.5, label=label)
    ax.set_title(f"{_math(names.title)}:\ntop-2 probability margin per {names.kind}", fontsize=11)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    columns = 1 if len(names.rows) <= 16 else 2
    ax.legend(
      fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=names.kind, ncols=columns
    )
  formatter = ScalarFormatter(useMathText=True)
  formatter.set_powerlimits((-3, 3))  # 1e-4 margins as 1 ×10⁻⁴, not 0.00010
  axes[0].yaxis.set_major_formatter(formatter)
  axes[0].set_ylabel("p(most likely) − p(second most likely)")
  axes[0].set_ylim(bottom=0)
  return fig
