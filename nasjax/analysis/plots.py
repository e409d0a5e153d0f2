"""Figures of a search workdir: PNGs drawn from the files a search writes.

:func:`make_plots` reads a search's ``--workdir`` (the files are listed in
:mod:`nasjax.run.records`) and writes into ``workdir/plots/`` each figure its
files allow, skipping the others:

* ``alphas.png`` -- the op probabilities of every edge over the epochs, one
  panel per edge, laid out as node (row) by input (column), per alpha tensor
  (``alphas.npz``; the probabilities the search recorded, softmax of alpha
  for DARTS). Edges with their own op lists (RobustDARTS' S1) show the
  generic column labels of ``op_names``.
* ``eigenvalue.png`` -- the dominant eigenvalue of the Hessian of the
  validation loss w.r.t. alpha (``hessian/max_eig`` in ``metrics.jsonl``, or
  else the checkpoints' values ``nasjax.analyze hessian`` wrote in
  ``analysis/hessian.jsonl``),
  with DARTS-ES' stop and the epoch whose architecture it returns
  (``early_stop.json``).
* ``discretization.png`` -- supernet vs derived-network accuracy and their
  gap (``discretization/*`` in ``metrics.jsonl``).
* ``margin.png`` -- the top-2 margin of every edge (largest minus second
  largest op probability) over the epochs: how decided each edge is.
* ``genotype.png`` -- the final genotype (``genotype.json``) as a cell graph:
  rendered by graphviz when its ``dot`` program is installed (the source is
  kept as ``genotype.dot``), else drawn with matplotlib.

Figures are drawn on matplotlib's Agg canvas without pyplot, so plotting
neither needs a display nor touches a notebook's figures.

Example (a finished search's workdir)::

  from nasjax.analysis.plots import make_plots
  written = make_plots('/tmp/nasjax_darts')  # {'alphas': .../plots/alphas.png, ...}
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from nasjax.analysis.cell_graph import (
  CELL_TITLES,
  _save,
  _tex,
  genotype_png,
  op_colors,
)
from nasjax.infra.jsonfiles import read_jsonl
from nasjax.spaces.registry import genotype_from_dict

log = logging.getLogger(__name__)


# --- reading the workdir ---------------------------------------------------------------


def epoch_series(workdir: str | Path, keys: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """``{key: (epochs, values)}`` of the epoch records of ``metrics.jsonl`` that hold ``key``.

  A later record of the same epoch replaces an earlier one; keys without any
  record are left out.
  """
  found: dict[str, dict[int, float]] = {k: {} for k in keys}
  for record in read_jsonl(Path(workdir) / "metrics.jsonl"):
    if record.get("kind") != "epoch":
      continue
    for k in keys:
      if k in record:
        found[k][int(record["epoch"])] = float(record[k])
  return {
    k: (np.array(sorted(v)), np.array([v[e] for e in sorted(v)])) for k, v in found.items() if v
  }


def checkpoint_eigenvalues(workdir: str | Path) -> tuple[np.ndarray, np.ndarray] | None:
  """``(epochs, dominant eigenvalues)`` that ``nasjax.analyze hessian`` wrote, or None."""
  records = read_jsonl(Path(workdir) / "analysis" / "hessian.jsonl")
  found = {int(r["epoch"]): float(r["max_eig"]) for r in records}
  if not found:
    return None
  epochs = sorted(found)
  return np.array(epochs), np.array([found[e] for e in epochs])


def missing_figures(workdir: str | Path, written: dict[str, Path]) -> list[str]:
  """One sentence per figure :func:`make_plots` could not draw: what is missing, how to get it."""
  workdir = Path(workdir)
  notes = []
  if "alphas" not in written:
    notes.append(f"no alpha plot: {workdir / 'alphas.npz'} is missing (a search writes it)")
  if "eigenvalue" not in written:
    notes.append(
      "no eigenvalue plot: the search recorded no Hessian (config.analysis.hessian_every=0) "
      "and there is no analysis/hessian.jsonl; run "
      f"python -m nasjax.analyze hessian --workdir={workdir}"
    )
  return notes


def load_alphas(workdir: Path) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]] | None:
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
  widths = {p.shape[-1] for p in probs.values()}
  if len(op_names) not in widths:
    op_names = [f"op {o}" for o in range(max(widths))]
  return epochs, probs, op_names


def _edge_layout(name: str, num_edges: int) -> tuple[list[str], list[tuple[int, int]], int, int]:
  """Labels and grid cells ``(row, col)`` of the edges of one alpha tensor, and the grid size.

  NAS-Bench-201 and DARTS cells are drawn as node (row) by input (column);
  other tensors fill a plain grid in edge order.
  """
  steps = (math.isqrt(9 + 8 * num_edges) - 3) // 2  # num_edges = steps * (steps + 3) / 2
  if name == "cell" and num_edges == 6:  # NAS-Bench-201: node i takes every node j < i
    pairs = [(i, j) for i in range(1, 4) for j in range(i)]
    labels = [f"node {i} ← {j}" for i, j in pairs]
    return labels, [(i - 1, j) for i, j in pairs], 3, 3
  if name in ("normal", "reduce") and steps * (steps + 3) == 2 * num_edges:
    pairs = [(i, j) for i in range(steps) for j in range(i + 2)]  # darts.cell_edges
    states = ["c_{k-2}", "c_{k-1}"] + [str(s) for s in range(steps)]
    labels = [f"node {i} ← {_tex(states[j])}" for i, j in pairs]
    return labels, pairs, steps, steps + 1
  cols = min(num_edges, 6)
  cells = [divmod(e, cols) for e in range(num_edges)]
  return [f"edge {e}" for e in range(num_edges)], cells, -(-num_edges // cols), cols


# --- the figures ------------------------------------------------------------------------


def plot_alphas(epochs: np.ndarray, probs: dict[str, np.ndarray], op_names: list[str]) -> Figure:
  """Op probabilities per edge over epochs: one panel per edge, one block per alpha tensor."""
  layouts = {n: _edge_layout(n, p.shape[1]) for n, p in probs.items()}
  cols = max(c for *_, c in layouts.values())
  rows = [r for _, _, r, _ in layouts.values()]
  width = 1.9 * cols + 0.6
  fig = Figure(figsize=(width, 1.45 * sum(rows) + 0.9 * len(probs) + 0.8))
  fig.set_layout_engine("constrained")
  subfigs = fig.subfigures(len(probs), 1, height_ratios=[r + 0.7 for r in rows], squeeze=False)
  marker = "o" if len(epochs) <= 25 else None
  for subfig, (name, p) in zip(subfigs[:, 0], probs.items(), strict=True):
    labels, cells, nrows, _ = layouts[name]
    names = (
      op_names if p.shape[-1] == len(op_names) else [f"{name} {o}" for o in range(p.shape[-1])]
    )
    colors = op_colors(names)
    axes = subfig.subplots(nrows, cols, sharex=True, sharey=True, squeeze=False)
    used = set(cells)
    # The y range of the data (near-uniform alphas stay distinguishable), within [0, 1].
    pad = max(0.08 * float(p.max() - p.min()), 2e-3)
    bottom, top = max(0.0, float(p.min()) - pad), min(1.0, float(p.max()) + pad)
    for e, (r, c) in enumerate(cells):
      ax = axes[r, c]
      for o in range(len(names)):
        ax.plot(epochs, p[:, e, o], color=colors[o], lw=1.4, marker=marker, ms=2.5)
      ax.set_title(labels[e], fontsize=9)
      ax.set_ylim(bottom, top)
      ax.xaxis.set_major_locator(MaxNLocator(integer=True))
      ax.grid(alpha=0.3)
    for r in range(nrows):
      for c in range(cols):
        if (r, c) not in used:
          axes[r, c].set_visible(False)
      axes[r, 0].set_ylabel("probability", fontsize=8)
    for c in range(cols):  # the x label under the lowest panel of every column
      lowest = max((r for r, cc in cells if cc == c), default=None)
      if lowest is not None:
        axes[lowest, c].set_xlabel("epoch", fontsize=8)
        axes[lowest, c].xaxis.set_tick_params(labelbottom=True)
    subfig.suptitle(f"{CELL_TITLES.get(name, name)}: op probabilities per edge", fontsize=11)
    if names is not op_names:  # a tensor with candidates of its own (DLSR's cell inputs)
      handles = [Line2D([], [], color=colors[o], lw=2) for o in range(len(names))]
      subfig.legend(handles, names, loc="outside right upper", fontsize=8)
  handles = [Line2D([], [], color=c, lw=2) for c in op_colors(op_names)]
  per_row = max(1, min(len(op_names), int(width / 1.9)))
  ncols = -(-len(op_names) // -(-len(op_names) // per_row))  # rows as even as they can be
  fig.legend(handles, op_names, loc="outside lower center", ncols=ncols, fontsize=9)
  return fig


def top2_margin(probs: np.ndarray) -> np.ndarray:
  """The largest minus the second-largest op probability of every edge (last axis = ops)."""
  top = np.sort(probs, axis=-1)
  return top[..., -1] - top[..., -2]


def plot_margins(epochs: np.ndarray, probs: dict[str, np.ndarray]) -> Figure:
  """Top-2 margin per edge over epochs: one line per edge, one panel per alpha tensor."""
  n = len(probs)
  fig = Figure(figsize=(7.4 * n + 0.4, 4.8))
  fig.set_layout_engine("constrained")
  axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
  for ax, (name, p) in zip(axes, probs.items(), strict=True):
    labels, cells, *_ = _edge_layout(name, p.shape[1])
    margin = top2_margin(p)
    for e, (row, col) in enumerate(cells):  # one line style per node, one colour per input
      style = ("-", "--", "-.", ":")[row % 4]
      ax.plot(epochs, margin[:, e], color=f"C{col % 10}", ls=style, lw=1.5, label=labels[e])
    ax.set_title(f"{CELL_TITLES.get(name, name)}: top-2 op-probability margin", fontsize=11)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), title="edge")
  axes[0].set_ylabel("p(1st op) − p(2nd op)")
  axes[0].set_ylim(bottom=0)
  return fig


def plot_eigenvalue(
  epochs: np.ndarray, values: np.ndarray, early_stop: dict[str, Any] | None
) -> Figure:
  """The dominant Hessian eigenvalue over epochs, with DARTS-ES' stop when there is one."""
  fig = Figure(figsize=(7.0, 4.2))
  fig.set_layout_engine("constrained")
  ax = fig.subplots()
  ax.plot(epochs, values, "o-", color="C0", lw=1.6, ms=3.5, label="dominant eigenvalue")
  marks = (
    ("epoch", "DARTS-ES stop", "C3", "--"),
    ("selected_epoch", "architecture returned", "C2", ":"),
  )
  for key, what, color, style in marks:
    if (early_stop or {}).get(key) is not None:
      epoch = early_stop[key]
      ax.axvline(epoch, color=color, ls=style, lw=1.5, label=f"{what} (epoch {epoch})")
  ax.set_title("Dominant eigenvalue of the Hessian of the validation loss w.r.t. α")
  ax.set_xlabel("epoch")
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))
  ax.set_ylabel(r"$\lambda_{\max}$")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=9)
  return fig


#: The discretisation scalars of ``metrics.jsonl``: legend label, colour and line style.
_DISCRETIZATION = {
  "discretization/supernet_acc": ("supernet", "C0", "-"),
  "discretization/derived_acc": ("derived network (inherited BN)", "C3", "-"),
  "discretization/derived_recal_acc": ("derived network (BN recalibrated)", "C2", "--"),
  "discretization/gap": ("supernet − derived", "C3", "-"),
  "discretization/gap_recal": ("supernet − derived (BN recalibrated)", "C2", "--"),
}


def plot_discretization(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
  """Supernet vs derived-network accuracy (left) and the gap (right) over epochs."""
  accs = [series[k][1] for k in _DISCRETIZATION if k.endswith("_acc") and k in series]
  scale = 100.0 if accs and max(float(np.max(a)) for a in accs) <= 1.0 else 1.0
  fig = Figure(figsize=(11.0, 4.2))
  fig.set_layout_engine("constrained")
  left, right = fig.subplots(1, 2)
  for k, (label, color, style) in _DISCRETIZATION.items():
    if k in series:
      x, y = series[k]
      ax = left if k.endswith("_acc") else right
      ax.plot(x, scale * y, color=color, ls=style, marker="o", ms=3, lw=1.5, label=label)
  for ax in (left, right):
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize=9)
  left.set_title("Validation accuracy: supernet vs derived network")
  left.set_ylabel("accuracy (%)" if scale == 100.0 else "accuracy")
  right.axhline(0, color="k", lw=0.8)
  right.set_title("Discretization gap")
  right.set_ylabel("accuracy gap (percentage points)" if scale == 100.0 else "accuracy gap")
  return fig


# --- the genotype -----------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
  return json.loads(path.read_text()) if path.exists() else None


def make_plots(workdir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
  """Writes the figures a search workdir's files allow (see the module docstring).

  Args:
    workdir: the search's ``--workdir``.
    out_dir: where the PNGs go; ``workdir/plots`` by default.

  Returns:
    ``{figure: path}`` of the files written (``alphas``, ``eigenvalue``,
    ``discretization``, ``margin``, ``genotype`` and, when graphviz drew the
    genotype, ``genotype_dot``); a figure whose data are absent is left out.
  """
  workdir = Path(workdir)
  out = Path(out_dir) if out_dir is not None else workdir / "plots"
  out.mkdir(parents=True, exist_ok=True)
  written: dict[str, Path] = {}
  alphas = load_alphas(workdir)
  if alphas is not None:
    epochs, probs, op_names = alphas
    written["alphas"] = _save(plot_alphas(epochs, probs, op_names), out / "alphas.png")
    if len(op_names) >= 2:
      written["margin"] = _save(plot_margins(epochs, probs), out / "margin.png")
  series = epoch_series(workdir, ["hessian/max_eig", *_DISCRETIZATION])
  eigen = series.pop("hessian/max_eig", None) or checkpoint_eigenvalues(workdir)
  if eigen is not None:
    fig = plot_eigenvalue(*eigen, _read_json(workdir / "early_stop.json"))
    written["eigenvalue"] = _save(fig, out / "eigenvalue.png")
  if series:
    written["discretization"] = _save(plot_discretization(series), out / "discretization.png")
  record = _read_json(workdir / "genotype.json")
  if record is not None:
    genotype = genotype_from_dict(record.get("genotype", record))
    if genotype.space in ("nb201", "darts"):  # the cell graphs; SR genotypes are op lists
      written.update(genotype_png(genotype, out))
  return written
