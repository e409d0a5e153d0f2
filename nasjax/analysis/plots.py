"""Figures of a search workdir: PNGs drawn from the files a search writes.

:func:`make_plots` reads a search's ``--workdir`` (the files are listed in
:mod:`nasjax.run.records`) and writes into ``workdir/plots/`` each figure its
files allow, skipping the others (:func:`missing_figures` says why):

* ``alphas.png`` -- the probability of every candidate of every alpha row
  over the epochs (``alphas.npz``; the probabilities the search recorded,
  softmax of alpha for DARTS), one panel per row, named and laid out as the
  space says (``config.json``; :class:`~nasjax.spaces.base.EdgeNames`: node
  by input for NAS-Bench-201 and DARTS cells, block by convolution for
  IMDN), every candidate in its own colour, the uniform probability dotted
  (:mod:`nasjax.analysis.alpha_plots`).
* ``eigenvalue.png`` -- the dominant eigenvalue of the Hessian of the
  validation loss w.r.t. alpha (``hessian/max_eig`` in ``metrics.jsonl``, or
  else the checkpoints' values ``nasjax.analyze hessian`` wrote in
  ``analysis/hessian.jsonl``),
  with DARTS-ES' stop and the epoch whose architecture it returns
  (``early_stop.json``).
* ``discretization.png`` -- supernet vs derived-network accuracy (PSNR for
  super-resolution) and their gap (``discretization/*`` in ``metrics.jsonl``).
* ``margin.png`` -- the top-2 margin of every alpha row (largest minus second
  largest probability) over the epochs: how decided each row is.
* ``genotype.png`` -- the final genotype (``genotype.json``) as its space's
  drawer draws it (:mod:`nasjax.analysis.genotype_figures`): NAS-Bench-201
  and DARTS cell graphs, rendered by graphviz when its ``dot`` program is
  installed (the source is kept as ``genotype.dot``), else drawn with
  matplotlib; IMDN's block with the op of each searched convolution; DLSR's
  cell and cell inputs; the trellis' cell and path. A space without a drawer
  gets a note instead.

Figures are drawn on matplotlib's Agg canvas without pyplot, so plotting
neither needs a display nor touches a notebook's figures.

Example (a finished search's workdir)::

  from nasjax.analysis.plots import make_plots
  written = make_plots('/tmp/nasjax_darts')  # {'alphas': .../plots/alphas.png, ...}
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nasjax.analysis.alpha_plots import (
  alpha_labels,
  load_alphas,
  plot_alphas,
  plot_margins,
  top2_margin,
  workdir_space,
)
from nasjax.analysis.cell_graph import _save
from nasjax.analysis.genotype_figures import GENOTYPE_FIGURES, draw_genotype
from nasjax.infra.jsonfiles import read_jsonl
from nasjax.spaces.registry import genotype_from_dict

__all__ = [
  "alpha_labels",
  "checkpoint_eigenvalues",
  "epoch_series",
  "load_alphas",
  "make_plots",
  "missing_figures",
  "plot_alphas",
  "plot_discretization",
  "plot_eigenvalue",
  "plot_margins",
  "top2_margin",
  "workdir_space",
]

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
  if "genotype" not in written:
    record = _read_json(workdir / "genotype.json")
    if record is None:
      notes.append(
        f"no genotype figure: {workdir / 'genotype.json'} is missing (a finished search writes it)"
      )
    else:
      genotype = genotype_from_dict(record.get("genotype", record))
      notes.append(
        f"no genotype figure: nasjax has no drawing of {genotype.space!r} genotypes (drawn: "
        f"{', '.join(sorted(GENOTYPE_FIGURES))}); the genotype is {genotype} (genotype.json)"
      )
  return notes


def plot_eigenvalue(
  epochs: np.ndarray,
  values: np.ndarray,
  early_stop: dict[str, Any] | None,
  label: str = "dominant eigenvalue",
) -> Figure:
  """The dominant Hessian eigenvalue over epochs, with DARTS-ES' stop when there is one.

  ``label`` names the curve (where its values come from).
  """
  fig = Figure(figsize=(7.0, 4.2))
  fig.set_layout_engine("constrained")
  ax = fig.subplots()
  ax.plot(epochs, values, "o-", color="C0", lw=1.6, ms=3.5, label=label)
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
  ax.set_ylabel(r"dominant eigenvalue $\lambda_{\max}$")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=9)
  return fig


#: The task metric of ``discretization/*``: its name in the figure and its unit
#: (fractions of one are shown in percent).
_METRICS = {"acc": ("accuracy", "%"), "pixel_acc": ("pixel accuracy", "%"), "psnr": ("PSNR", "dB")}
#: The curves of the discretisation figure: record name, legend label, colour, line style.
_CURVES = (
  ("supernet", "supernet", "C0", "-"),
  ("derived", "derived network (inherited BN)", "C3", "-"),
  ("derived_recal", "derived network (BN recalibrated)", "C2", "--"),
)
_GAPS = (
  ("gap", "supernet − derived", "C3", "-"),
  ("gap_recal", "supernet − derived (BN recalibrated)", "C2", "--"),
)
#: Every discretisation scalar of ``metrics.jsonl`` the figure draws.
_DISCRETIZATION = tuple(
  [f"discretization/{name}_{m}" for m in _METRICS for name, *_ in _CURVES]
  + [f"discretization/{name}" for name, *_ in _GAPS]
)


def plot_discretization(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
  """Supernet vs derived-network metric (left) and the gap (right) over epochs.

  The metric is the task's (accuracy in percent, PSNR in dB), the first of
  :data:`_METRICS` in ``series``.
  """
  metric = next(
    (m for m in _METRICS if any(f"discretization/{c[0]}_{m}" in series for c in _CURVES)), "acc"
  )
  name, unit = _METRICS[metric]
  curves = [series[k][1] for c in _CURVES if (k := f"discretization/{c[0]}_{metric}") in series]
  scale = 100.0 if unit == "%" and curves and max(float(np.max(a)) for a in curves) <= 1.0 else 1.0
  fig = Figure(figsize=(11.0, 4.2))
  fig.set_layout_engine("constrained")
  left, right = fig.subplots(1, 2)
  lines = [(f"{c[0]}_{metric}", left, *c[1:]) for c in _CURVES] + [
    (g[0], right, *g[1:]) for g in _GAPS
  ]
  for key, ax, label, color, style in lines:
    if f"discretization/{key}" in series:
      x, y = series[f"discretization/{key}"]
      ax.plot(x, scale * y, color=color, ls=style, marker="o", ms=3, lw=1.5, label=label)
  for ax in (left, right):
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize=9)
  shown = f"{name} ({unit})" if unit != "%" or scale == 100.0 else name
  left.set_title(f"Validation {name}: supernet vs derived network")
  left.set_ylabel(shown)
  right.axhline(0, color="k", lw=0.8)
  right.set_title("Discretization gap: supernet minus derived network")
  gap_unit = {"%": "percentage points", "dB": "dB"}[unit] if unit != "%" or scale == 100.0 else ""
  right.set_ylabel(f"{name} gap ({gap_unit})" if gap_unit else f"{name} gap")
  return fig


# --- the workdir's figures -------------------------------------------------------------


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
    genotype, ``genotype_dot``); a figure whose data are absent, or a
    genotype of a space without a drawing, is left out.
  """
  workdir = Path(workdir)
  out = Path(out_dir) if out_dir is not None else workdir / "plots"
  out.mkdir(parents=True, exist_ok=True)
  written: dict[str, Path] = {}
  found = workdir_space(workdir)
  alphas = load_alphas(workdir, found)
  candidates = None if found is None else list(found[0].op_names(found[1]))
  if alphas is not None:
    epochs, probs, candidates = alphas
    edges, row_ops = alpha_labels(found, probs, candidates)
    fig = plot_alphas(epochs, probs, candidates, edges, row_ops)
    written["alphas"] = _save(fig, out / "alphas.png")
    if max(p.shape[-1] for p in probs.values()) >= 2:
      written["margin"] = _save(plot_margins(epochs, probs, edges), out / "margin.png")
  series = epoch_series(workdir, ["hessian/max_eig", *_DISCRETIZATION])
  eigen, label = series.pop("hessian/max_eig", None), "dominant eigenvalue"
  if eigen is None:  # measured after the search, at the checkpoints it kept
    eigen, label = checkpoint_eigenvalues(workdir), "dominant eigenvalue at the kept checkpoints"
  if eigen is not None:
    fig = plot_eigenvalue(*eigen, _read_json(workdir / "early_stop.json"), label)
    written["eigenvalue"] = _save(fig, out / "eigenvalue.png")
  if series:
    written["discretization"] = _save(plot_discretization(series), out / "discretization.png")
  record = _read_json(workdir / "genotype.json")
  if record is not None:
    genotype = genotype_from_dict(record.get("genotype", record))
    space_config = None if found is None else found[1]
    written.update(draw_genotype(genotype, out, candidates, space_config))
  return written
