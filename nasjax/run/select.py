"""Read an architecture out of a finished search: argmax, perturbation (PT), single-stage.

Command line::

  python -m nasjax.select --workdir=SEARCH_DIR --method=argmax
  python -m nasjax.select --workdir=SEARCH_DIR --method=pt --config.pt.proj_interval=5
  python -m nasjax.select --workdir=SEARCH_DIR --method=single_stage \\
      --config.single_stage.both_halves=True
  python -m nasjax.select --config=configs/seg/single_stage.py --workdir=SEG_SEARCH_DIR \\
      --method=single_stage

Settings are ``--config.<field>=...`` overrides of :func:`select_config`, or
a config file (``--config=FILE``) returning such a config.

Each method reads the search's final checkpoint and config from
``SEARCH_DIR`` and writes into ``SEARCH_DIR/select/<method>/``; re-running
the same command resumes (``pt`` and ``single_stage`` train, with
checkpoints, metrics and Ctrl-C handling like a search).

* ``argmax``: the magnitude-based genotype (DESIGN.md §3; DARTS-ES' choice
  when the search stopped early) and its discretisation gap: validation
  accuracy of the supernet vs the derived network with inherited weights,
  with and without BN recalibration (``selection.json``).
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
from nasjax.core import perturbation as selection
from nasjax.core import projection
from nasjax.errors import ConfigError
from nasjax.run import search, single_stage
from nasjax.run.records import write_json
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

METHODS = ("argmax", "pt", "single_stage")
ConfigDict = ml_collections.ConfigDict


def select_config() -> ConfigDict:
  """Defaults of a selection run (``--config.<field>`` on the command line).

  Fields:
    seed: seeds PT's random edge order.
    val_limit: validation examples (the search's alpha half) used to score
      and measure; 0 = all.
    allow_unfinished: select from a search that has not finished.
    pt: ``proj_interval`` (fine-tuning epochs between decisions; 5),
      ``edge_order`` (``random`` or ``fixed``), ``criterion`` (``acc`` or
      ``loss``), ``lr``/``lr_min`` of the reset weight optimiser (0.0025 cosine
      to 0.001), ``tune_alpha`` (alpha of undecided edges keeps training while
      fine-tuning, as darts-PT does), ``allow_none`` (``none`` may be chosen).
    single_stage: ``epochs`` of continued training (0 = as many as the
      search had; a default chosen here), ``lr``/``lr_min`` (cosine),
      ``both_halves`` (train the weights on the whole training set),
      ``prune_threshold`` (spaces that support it, the trellis: paths and
      ops whose frozen weight is below it are removed before the weights
      train on; 0 = keep all).
    recalibration_batches: batches of the weight half that re-estimate BN
      statistics for the derived network (``argmax``).
    eval: test-split evaluation (``batch_size``, ``limit``; 0 = all).
    checkpoint, log_every_steps, progress_bar, allow_resume_with_changes:
      as in a search config.
  """
  c = ConfigDict()
  c.seed = 0
  c.val_limit = 0
  c.allow_unfinished = False
  c.pt = ConfigDict(
    dict(
      proj_interval=5,
      edge_order="random",
      criterion="acc",
      lr=0.0025,
      lr_min=0.001,
      tune_alpha=True,
      allow_none=False,
    )
  )
  c.single_stage = ConfigDict(
    dict(epochs=0, lr=0.025, lr_min=0.001, both_halves=False, prune_threshold=0.0)
  )
  c.recalibration_batches = 8
  c.eval = ConfigDict(dict(batch_size=256, limit=0))
  c.checkpoint = ConfigDict(dict(keep=3, every_epochs=1, async_save=True))
  c.log_every_steps = 20
  c.progress_bar = True
  c.allow_resume_with_changes = False
  return c


def _check(ok: bool, message: str) -> None:
  if not ok:
    raise ConfigError(message)


def validate_select_config(config: ConfigDict, method: str) -> None:
  """Checks a selection config and method.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  _check(method in METHODS, f"--method must be one of {list(METHODS)}, got {method!r}")
  pt = config.pt
  _check(
    isinstance(pt.proj_interval, int) and pt.proj_interval >= 1,
    f"config.pt.proj_interval must be an integer >= 1, got {pt.proj_interval!r}",
  )
  _check(
    pt.edge_order in selection.EDGE_ORDERS,
    f"config.pt.edge_order must be one of {list(selection.EDGE_ORDERS)}, got {pt.edge_order!r}",
  )
  _check(
    pt.criterion in selection.CRITERIA,
    f"config.pt.criterion must be one of {list(selection.CRITERIA)}, got {pt.criterion!r}",
  )
  ss = config.single_stage
  _check(
    isinstance(ss.epochs, int) and ss.epochs >= 0,
    f"config.single_stage.epochs must be an integer >= 0, got {ss.epochs!r}",
  )
  for block, name in ((pt, "pt"), (ss, "single_stage")):
    _check(block.lr > 0, f"config.{name}.lr must be > 0, got {block.lr!r}")
    _check(
      0 <= block.lr_min <= block.lr,
      f"config.{name}.lr_min must be in [0, config.{name}.lr], got {block.lr_min!r}",
    )
  _check(
    isinstance(ss.prune_threshold, (int, float)) and 0 <= ss.prune_threshold < 1,
    f"config.single_stage.prune_threshold must be in [0, 1), got {ss.prune_threshold!r}",
  )
  for field in ("val_limit",):
    _check(
      isinstance(config[field], int) and config[field] >= 0,
      f"config.{field} must be an integer >= 0, got {config[field]!r}",
    )
  _check(
    isinstance(config.recalibration_batches, int) and config.recalibration_batches >= 1,
    f"config.recalibration_batches must be an integer >= 1, got {config.recalibration_batches!r}",
  )


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
  label = {"acc": "accuracy", "psnr": "PSNR (dB)", "pixel_acc": "pixel accuracy"}[metric]
  if method == "argmax":
    say(
      is_main,
      f"validation {label}: supernet {record[f'discretization/supernet_{metric}']:.4f}, "
      f"derived {record[f'discretization/derived_{metric}']:.4f}, derived with BN "
      f"recalibration {record[f'discretization/derived_recal_{metric}']:.4f}",
    )
  if method == "single_stage":
    say(
      is_main,
      f"test {label} {record[f'test_{metric}']:.4f}; network saved in {out / 'network'}",
    )
    if "test_miou" in record:
      say(is_main, f"test mIoU {record['test_miou']:.4f} (whole images)")
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


def main() -> None:
  """``python -m nasjax.select`` (see :mod:`nasjax.cli`)."""
  import sys

  from nasjax.cli import main as cli_main

  # A --config=FILE (e.g. configs/seg/single_stage.py) replaces the built-in defaults.
  from_file = any(a.startswith("--config=") or a == "--config" for a in sys.argv[1:])
  cli_main(
    run,
    program="nasjax.select",
    example="configs/seg/single_stage.py:runlocal",
    default_config=None if from_file else select_config(),
    choice=("method", METHODS, "how to read the architecture out of the search"),
  )


if __name__ == "__main__":
  main()
