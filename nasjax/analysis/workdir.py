"""Analyse a search workdir after the fact: Hessian eigenvalues of its checkpoints, plots.

Its command line is ``python -m nasjax.analyze`` (:mod:`nasjax.analyze`).

``hessian`` computes, for every checkpoint the search kept, the spectrum of
the Hessian of the validation loss w.r.t. alpha exactly as the search does
during training (:mod:`nasjax.analysis.epoch`, :mod:`nasjax.analysis.hessian`) and writes
``SEARCH_DIR/analysis/hessian.jsonl`` (one record per checkpoint: epoch,
step, dominant eigenvalue, eigenvalues). ``plots`` writes PNGs into
``SEARCH_DIR/plots/`` (:mod:`nasjax.analysis.plots`): alpha per edge, the dominant
eigenvalue, the discretisation gap, the top-2 alpha margin, the genotype.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import ml_collections

from nasjax.analysis import hessian, plots
from nasjax.analysis.epoch import hessian_batches
from nasjax.config.search import HESSIAN_METHODS
from nasjax.errors import ConfigError
from nasjax.infra.checkpoint import Checkpointer, CheckpointError
from nasjax.infra.jsonfiles import atomic_write_text, write_json
from nasjax.run.restore import open_search
from nasjax.run.safety import say

COMMANDS = ("hessian", "plots")


def checkpoint_hessians(
  workdir: str | Path, method: str = "full", iters: int = 20, batches: int = 1
) -> list[dict[str, Any]]:
  """The Hessian measurement of every checkpoint in ``workdir/checkpoints``.

  Returns:
    One record per checkpoint, oldest first: ``epoch``, ``step``,
    ``max_eig``, ``eigenvalues``, ``method``.
  """
  if method not in HESSIAN_METHODS:
    raise ConfigError(f"config.method must be one of {list(HESSIAN_METHODS)}, got {method!r}")
  workdir = Path(workdir).absolute()
  config, search_data, setup = open_search(workdir)
  checkpointer = Checkpointer(workdir / "checkpoints", async_save=False)
  steps = checkpointer.all_steps()
  if not steps:
    raise CheckpointError(f"{workdir / 'checkpoints'} holds no checkpoint; run the search first")
  fn = hessian.make_hessian_fn(setup, method, iters)
  stacked = hessian_batches(search_data, batches, config.batch_size)
  target = setup.init(jax.random.key(config.seed), search_data.image_shape)
  records = []
  try:
    for step in steps:
      state, _ = checkpointer.restore(step, target, setup.space.renamed_alphas)
      out = jax.device_get(fn(state, stacked))
      records.append(
        {
          "epoch": step // search_data.steps_per_epoch,
          "step": step,
          "max_eig": float(out["max_eig"]),
          "method": method,
          "eigenvalues": [float(v) for v in out["eigenvalues"]],
        }
      )
  finally:
    checkpointer.close()
  return records


def run(config: ml_collections.ConfigDict, workdir: str | Path, command: str) -> Any:
  """Runs ``command`` (``hessian`` or ``plots``) on the search in ``workdir``."""
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  if command == "hessian":
    records = checkpoint_hessians(workdir, config.method, config.iters, config.batches)
    out = workdir / "analysis" / "hessian.jsonl"
    if is_main:
      out.parent.mkdir(exist_ok=True)
      atomic_write_text(out, "".join(json.dumps(r) + "\n" for r in records))
    for r in records:
      say(
        is_main, f"epoch {r['epoch']:4d} (step {r['step']}): dominant eigenvalue {r['max_eig']:.6g}"
      )
    say(is_main, f"outputs: {out}")
    return records
  if command == "plots":
    if not (workdir / "alphas.npz").exists() and not (workdir / "metrics.jsonl").exists():
      raise ConfigError(
        f"{workdir} holds no search outputs to plot (no alphas.npz or metrics.jsonl)"
      )
    written = plots.make_plots(workdir)
    for name, path in written.items():
      say(is_main, f"{name}: {path}")
    for note in plots.missing_figures(workdir, written):
      say(is_main, note)
    if is_main:
      write_json(workdir / "plots" / "index.json", {k: str(v) for k, v in written.items()})
    return written
  raise ConfigError(f"unknown command {command!r}; choose one of {list(COMMANDS)}")
