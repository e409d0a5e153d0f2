"""Read an architecture out of a finished search: argmax, perturbation (PT), single-stage.

Its command line is ``python -m nasjax.select`` (:mod:`nasjax.select`).

Settings are ``--config.<field>=...`` overrides of :func:`select_config`, or
a config file (``--config=FILE``) returning such a config.

Each method reads the search's final checkpoint and config from
``SEARCH_DIR`` and writes into ``SEARCH_DIR/select/<method>/``; re-running
the same command resumes (``pt`` and ``single_stage`` train, with
checkpoints, metrics and Ctrl-C handling like a search).

* ``argmax``: the magnitude-based genotype (``docs/methods.md``,
  Discretisation; DARTS-ES' choice when the search stopped early) and its
  discretisation gap: validation accuracy of the supernet vs the derived
  network with inherited weights, with and without BN recalibration
  (``selection.json``).
* ``pt``: perturbation-based selection (:mod:`nasjax.core.perturbation`): the weight
  optimiser reset (lr 0.0025 cosine to 0.001), one decision per round,
  ``proj_interval`` epochs of fine-tuning between decisions
  (``decisions.jsonl``, ``genotype.json``, ``selection.json``). On a search
  run with ``config.optimizer.alpha.frozen`` (alpha uniform throughout, e.g.
  ``configs/nb201/darts_pt_fix_alpha.py``) this is "DARTS+PT (fix alpha)".
* ``single_stage``: alpha frozen at its real values (no argmax), its
  optimiser dropped, the same weights trained on for ``epochs`` epochs
  (optionally on both data halves), evaluated on the test split, and saved
  for use (``network/``, :func:`nasjax.load_network`; ``final.json``).

From a notebook: ``nasjax.select.run(select_config(), workdir, 'pt')``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from nasjax.analysis.epoch import discretization_on_halves
from nasjax.config.select import validate_select_config
from nasjax.core import perturbation as selection
from nasjax.core import projection
from nasjax.infra.jsonfiles import write_json
from nasjax.run import search, single_stage
from nasjax.run.restore import (
  LoadedSearch,
  benchmark_record,
  continue_from,
  continued_config,
  load_search,
  search_genotype,
)
from nasjax.run.safety import say
from nasjax.spaces.registry import genotype_from_dict

ConfigDict = ml_collections.ConfigDict


# -- the three methods ----------------------------------------------------------


def _argmax(config: ConfigDict, loaded: LoadedSearch, out: Path) -> dict[str, Any]:
  genotype = search_genotype(loaded)
  gap = discretization_on_halves(
    loaded.setup,
    loaded.state,
    loaded.search_data,
    config.eval.batch_size,
    config.val_limit,
    config.recalibration_batches,
  )
  record = {
    "method": "argmax",
    "genotype": genotype.to_dict(),
    "benchmark": benchmark_record(loaded.config, genotype),
    "search_step": loaded.step,
    "early_stop": loaded.early_stop,
    **gap,
  }
  _write(out / "genotype.json", {"genotype": genotype.to_dict(), "benchmark": record["benchmark"]})
  return record


def _pt(config: ConfigDict, loaded: LoadedSearch, out: Path) -> dict[str, Any]:
  pt = config.pt
  shapes = loaded.setup.space.alpha_shapes(loaded.config.space)
  rounds = max(s[0] for s in shapes.values()) + max(
    (len(v) for v in selection.node_edges(loaded.config.space).values()), default=0
  )
  tune = continued_config(loaded.config, config)
  tune.epochs = pt.proj_interval * (rounds - 1)
  tune.optimizer.weights.lr = pt.lr
  tune.optimizer.weights.lr_min = pt.lr_min
  tune.optimizer.alpha.frozen = bool(loaded.config.optimizer.alpha.frozen or not pt.tune_alpha)
  argmax = search_genotype(loaded)
  spe = loaded.search_data.steps_per_epoch
  val = list(loaded.search_data.half_batches("alpha", config.eval.batch_size, config.val_limit))
  hooks: dict[str, selection.PerturbationSelection] = {}

  def initial_state(setup, image_shape):
    hooks.setdefault(
      "pt",
      selection.PerturbationSelection(
        setup, val, pt.proj_interval * spe, pt, config.seed, out / "decisions.jsonl"
      ),
    )
    empty = jax.tree.map(jnp.asarray, projection.empty(shapes))
    return continue_from(loaded, projection=empty)(setup, image_shape)

  def hook(step, state):
    return hooks["pt"](step, state)

  result = search.run(tune, out, initial_state=initial_state, step_hook=hook, kind="pt")
  decisions = [hooks["pt"].records[k] for k in sorted(hooks["pt"].records)]
  return {
    "method": "pt",
    "genotype": result.genotype.to_dict(),
    "benchmark": result.benchmark,
    "argmax_genotype": argmax.to_dict(),
    "argmax_benchmark": benchmark_record(loaded.config, argmax),
    "fix_alpha": bool(loaded.config.optimizer.alpha.frozen),
    "tune_epochs": tune.epochs,
    "decisions": decisions,
  }


def _write(path: Path, data: Any) -> None:
  if jax.process_index() == 0:
    write_json(path, data)


@dataclasses.dataclass
class SelectionResult:
  """What a selection returns (also written to its folder).

  Attributes:
    method: ``argmax``, ``pt`` or ``single_stage``.
    folder: ``SEARCH_DIR/select/<method>``.
    record: the contents of ``selection.json`` (genotype, benchmark,
      accuracies, decisions; see the module docstring).
  """

  method: str
  folder: Path
  record: dict[str, Any]


def run(config: ConfigDict, workdir: str | Path, method: str) -> SelectionResult:
  """Runs (or resumes) selection ``method`` on the search in ``workdir``.

  Args:
    config: a selection config (:func:`select_config`).
    workdir: the search's workdir.
    method: ``argmax``, ``pt`` or ``single_stage``.

  Raises:
    NasjaxError: for a bad config, a missing or unfinished search, an
      unusable checkpoint or a diverged run, with a message naming the fix.
  """
  t0 = time.perf_counter()
  validate_select_config(config, method)
  workdir = Path(workdir).absolute()
  loaded = load_search(workdir, config.allow_unfinished)
  out = workdir / "select" / method
  out.mkdir(parents=True, exist_ok=True)
  record = {"argmax": _argmax, "pt": _pt, "single_stage": single_stage.train}[method](
    config, loaded, out
  )
  record["seconds"] = time.perf_counter() - t0
  _write(out / "selection.json", record)
  is_main = jax.process_index() == 0
  say(is_main, f"{method} selection finished in {record['seconds']:.1f} s")
  if "genotype" in record:
    say(is_main, f"genotype: {genotype_from_dict(record['genotype'])}")
  if record.get("benchmark"):
    b = record["benchmark"]
    say(
      is_main,
      f"NAS-Bench-201: cifar10 test {b['cifar10_test']:.2f}, "
      f"cifar100 test {b['cifar100_test']:.2f}",
    )
  metric = next(
    (
      m
      for m in ("psnr", "pixel_acc")
      if f"test_{m}" in record or f"discretization/supernet_{m}" in record
    ),
    "acc",
  )
  # Printed in the units the benchmark prints: percentages (PSNR in dB); the records keep fractions.
  label = {"acc": "accuracy (%)", "psnr": "PSNR (dB)", "pixel_acc": "pixel accuracy (%)"}[metric]
  scale = 1.0 if metric == "psnr" else 100.0
  if method == "argmax":
    say(
      is_main,
      f"validation {label}: supernet {scale * record[f'discretization/supernet_{metric}']:.2f}, "
      f"derived {scale * record[f'discretization/derived_{metric}']:.2f}, derived with BN "
      f"recalibration {scale * record[f'discretization/derived_recal_{metric}']:.2f}",
    )
  if method == "single_stage":
    say(
      is_main,
      f"test {label} {scale * record[f'test_{metric}']:.2f}; network saved in {out / 'network'}",
    )
    if "test_miou" in record:
      say(is_main, f"test mIoU (%) {100 * record['test_miou']:.2f} (whole images)")
    if "pruning" in record:
      p = record["pruning"]
      say(
        is_main,
        f"pruned below {p['threshold']}: {p['transitions']} transition(s), {p['ops']} op(s); "
        f"multiply-adds {p['multiply_adds_before'] / 1e9:.2f}G -> "
        f"{p['multiply_adds_after'] / 1e9:.2f}G ({100 * p['saved_fraction']:.1f}% saved)",
      )
  say(is_main, f"outputs: {out}")
  return SelectionResult(method, out, record)
