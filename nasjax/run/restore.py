"""A finished search read back from its workdir, and continued.

Selection (:mod:`nasjax.select`) and analysis (:mod:`nasjax.analyze`) start
from a search's workdir: its resolved ``config.json`` (fields added to the
config since the search ran take their defaults), its data, its setup and
its last checkpoint. Training phases that continue a search (PT's
fine-tuning, the single-stage protocol) run as searches of a derived config
(:func:`continued_config`) from the search's state (:func:`continue_from`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from nasjax.config.resume import merge_defaults
from nasjax.config.search import search_config, validate_search_config
from nasjax.core import bilevel
from nasjax.core.setup import make_search_setup
from nasjax.core.state import SearchState
from nasjax.errors import NasjaxError
from nasjax.infra import fused
from nasjax.infra import seeds as seeds_lib
from nasjax.infra.checkpoint import Checkpointer, CheckpointError
from nasjax.run import search
from nasjax.spaces.registry import SPACES, genotype_from_dict, get_space
from nasjax.tasks.registry import get_task, task_of

ConfigDict = ml_collections.ConfigDict


def load_search_config(workdir: Path) -> ConfigDict:
  """The resolved config of the search in ``workdir``.

  Raises:
    NasjaxError: when ``workdir`` holds no search.
  """
  seed_of = _seed_folder(workdir)
  if seed_of is not None:  # one seed of a multi-seed run: the run's config for that seed
    return seeds_lib.seed_config(load_search_config(workdir.parent), seed_of)
  record = workdir / "config.json"
  if not record.is_file():
    raise NasjaxError(
      f"{workdir} holds no search (config.json is missing); pass the --workdir of a "
      f"`python -m nasjax.search` run"
    )
  saved = json.loads(record.read_text())
  defaults = search_config()
  name = saved.get("space", {}).get("name")
  if name in SPACES:  # the data block of the space's task
    defaults.data = get_task(SPACES[name].task).data_config()
  config = merge_defaults(defaults, saved)
  validate_search_config(config)
  return config


def _seed_folder(workdir: Path) -> int | None:
  """The seed whose folder ``workdir`` is in a multi-seed run (``RUN/seed_<s>``), else None."""
  name = workdir.name
  if not (name.startswith("seed_") and name[5:].isdigit()) or (workdir / "config.json").exists():
    return None
  if not (workdir.parent / "config.json").is_file():
    return None
  seed = int(name[5:])
  parent = load_search_config(workdir.parent)
  if seed not in seeds_lib.seed_list(parent):
    raise NasjaxError(
      f"{workdir.parent} ran seeds {seeds_lib.seed_list(parent)}, not {seed}; pass one of "
      "its seed folders"
    )
  return seed


@dataclasses.dataclass
class LoadedSearch:
  """A search's config, data, setup and final state."""

  config: ConfigDict
  search_data: Any
  setup: bilevel.SearchSetup
  state: SearchState
  step: int
  early_stop: dict[str, Any] | None

  @property
  def image_shape(self) -> tuple[int, ...]:
    return self.search_data.image_shape


def open_search(
  workdir: Path,
) -> tuple[ConfigDict, Any, bilevel.SearchSetup]:
  """The config, data and setup of the search in ``workdir`` (no state yet).

  Raises:
    NasjaxError: when ``workdir`` holds no search; data errors as the search's.
  """
  config = load_search_config(workdir)
  search_data = task_of(config).search_data(config)
  return config, search_data, make_search_setup(config, search_data.steps_per_epoch)


def load_search(workdir: str | Path, allow_unfinished: bool = False) -> LoadedSearch:
  """Restores the final state of the search in ``workdir``.

  Raises:
    NasjaxError: when there is no search or it has not finished (unless
      ``allow_unfinished``); CheckpointError when its checkpoint is unusable.
  """
  workdir = Path(workdir).absolute()
  config, search_data, setup = open_search(workdir)
  if config.get("num_seeds", 1) > 1:
    first = seeds_lib.seed_dir(workdir, config.seed)
    raise NasjaxError(
      f"{workdir} holds {config.num_seeds} seeds' searches; pass one seed's folder, e.g. "
      f"--workdir={first}"
    )
  spe = search_data.steps_per_epoch
  seed = _seed_folder(workdir)
  run_dir = workdir.parent if seed is not None else workdir
  checkpointer = Checkpointer(run_dir / "checkpoints", async_save=False)
  step = checkpointer.latest_step()
  if step is None:
    checkpointer.close()
    raise CheckpointError(
      f"{workdir / 'checkpoints'} holds no checkpoint; run or resume the search first"
    )
  stop_file = run_dir / search.EARLY_STOP_FILE
  early_stop = json.loads(stop_file.read_text()) if stop_file.exists() else None
  total = config.epochs * spe
  if step < total and not (early_stop and early_stop["step"] == step) and not allow_unfinished:
    checkpointer.close()
    raise NasjaxError(
      f"the search in {workdir} has not finished (step {step} of {total}); resume it with "
      f"`python -m nasjax.search` first, or pass --config.allow_unfinished=True"
    )
  target = setup.init(jax.random.key(config.seed), search_data.image_shape)
  if seed is None:
    state, _ = checkpointer.restore(step, target, setup.space.renamed_alphas)
  else:  # the run's checkpoint stacks its seeds; take this one's slice
    parent = load_search_config(run_dir)
    index = seeds_lib.seed_list(parent).index(seed)
    stacked = fused.stack([target] * parent.num_seeds)
    stacked, _ = checkpointer.restore(step, stacked, setup.space.renamed_alphas)
    state = jax.tree.map(jnp.asarray, fused.take(stacked, index))
  checkpointer.close()
  return LoadedSearch(config, search_data, setup, state, step, early_stop)


def search_genotype(loaded: LoadedSearch) -> Any:
  """The search's genotype: DARTS-ES' choice when it stopped early, else the argmax of its state."""
  if loaded.early_stop and loaded.early_stop.get("genotype"):
    return genotype_from_dict(loaded.early_stop["genotype"])
  probs = jax.device_get(loaded.setup.relaxation.probs(loaded.state.alphas))
  return loaded.setup.space.derive_genotype(probs, loaded.config.space, loaded.state.betas)


def benchmark_record(config: ConfigDict, genotype: Any) -> dict[str, Any] | None:
  """The genotype's record in its space's benchmark (NAS-Bench-201's), when there is one."""
  table = get_space(config.space.name).load_benchmark(config.nb201_table)
  return table.lookup(genotype).to_dict() if table is not None else None


def continued_config(search_cfg: ConfigDict, config: ConfigDict) -> ConfigDict:
  """The search config of a selection's training phase (fine-tuning, continued training)."""
  c = copy.deepcopy(search_cfg)
  c.optimizer.alpha.warmup_epochs = 0
  c.analysis.hessian_every = 0
  c.analysis.discretization_every = 0
  c.analysis.early_stop.enabled = False
  c.eval.update(config.eval.to_dict())
  c.checkpoint.update(config.checkpoint.to_dict())
  c.log_every_steps = config.log_every_steps
  c.progress_bar = config.progress_bar
  c.allow_resume_with_changes = config.allow_resume_with_changes
  return c


def continue_from(loaded: LoadedSearch, **changes: Any) -> Callable[..., SearchState]:
  """An ``initial_state`` for ``search.run``: the search state at step 0, w optimiser reset."""

  def initial_state(setup: bilevel.SearchSetup, image_shape) -> SearchState:
    del image_shape
    state = loaded.state
    params = jax.tree.map(jnp.array, state.params)  # copies: the step donates its input
    return state.replace(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=jax.tree.map(jnp.array, state.batch_stats),
      alphas=jax.tree.map(jnp.array, state.alphas),
      betas=jax.tree.map(jnp.array, state.betas),
      weight_opt_state=setup.weight_tx.init(params),
      alpha_opt_state=jax.tree.map(jnp.array, state.alpha_opt_state),
      alpha_grad=setup.initial_alpha_grad(state.arch_params),
      **changes,
    )

  return initial_state
