"""nasjax: robust differentiable neural architecture search in JAX.

The names a notebook needs are here; each role has its package, a namespace
of its own: :mod:`nasjax.config` (configs, protocols, checks),
:mod:`nasjax.core` (the bilevel step and the functions of alpha),
:mod:`nasjax.spaces` (search spaces and genotypes), :mod:`nasjax.tasks`
(losses, metrics and data of each task), :mod:`nasjax.data` (the
weight/alpha split, step-indexed batches), :mod:`nasjax.analysis` (Hessian,
measurements, plots), :mod:`nasjax.infra` (checkpoints, devices, processes,
seeds) and :mod:`nasjax.run` (the search loop and the read-outs). A run from
a notebook is ``import nasjax.search; nasjax.search.run(config, workdir)``
(likewise ``nasjax.select``, ``nasjax.retrain``, ...: the modules behind
``python -m nasjax.<command>``). ``docs/architecture.md`` maps it all.

Example:
  >>> import jax, nasjax
  >>> config = nasjax.search_config()
  >>> config.space.channels, config.space.cells_per_stage = 4, 1
  >>> setup = nasjax.make_search_setup(config, steps_per_epoch=100)
  >>> state = setup.init(jax.random.key(0), (32, 32, 3))
  >>> probs = setup.relaxation.probs(state.alphas)
  >>> nasjax.get_space('nb201').derive_genotype(probs, config.space).space
  'nb201'
"""

# _process_start first: it reads the environment before jax is imported.
from nasjax import _process_start as _process_start  # noqa: I001 (first)
from nasjax import analysis, config, core, data, infra, run, spaces, tasks
from nasjax.analysis.hessian import alpha_hessian, make_hessian_fn
from nasjax.analysis.plots import make_plots
from nasjax.config.protocols import nb201_protocol, runlocal, sa_darts_protocol
from nasjax.config.retrain import retrain_config
from nasjax.config.search import search_config, validate_search_config
from nasjax.config.select import select_config
from nasjax.core.bilevel import SearchSetup
from nasjax.core.perturbation import PerturbationSelection
from nasjax.core.regularizers import Penalty, register_regularizer
from nasjax.core.setup import make_search_setup
from nasjax.core.state import SearchState
from nasjax.errors import ConfigError, DataNotFoundError, NasjaxError
from nasjax.infra.checkpoint import Checkpointer
from nasjax.run.restore import load_search
from nasjax.spaces.base import SearchSpace
from nasjax.spaces.darts.genotype import DARTS_V1, DARTS_V2, PC_DARTS, DartsGenotype
from nasjax.spaces.nb201.benchmark import NB201Table
from nasjax.spaces.nb201.genotype import NB201Genotype
from nasjax.spaces.registry import genotype_from_dict, get_space, load_genotype, register_space
from nasjax.spaces.saved import SingleStageNetwork, load_network, save_network
from nasjax.tasks.base import Task
from nasjax.tasks.registry import get_task, register_task

__version__ = "0.1.0"

__all__ = [
  "DARTS_V1",
  "DARTS_V2",
  "PC_DARTS",
  "Checkpointer",
  "ConfigError",
  "DartsGenotype",
  "DataNotFoundError",
  "NB201Genotype",
  "NB201Table",
  "NasjaxError",
  "Penalty",
  "PerturbationSelection",
  "SearchSetup",
  "SearchSpace",
  "SearchState",
  "SingleStageNetwork",
  "Task",
  "alpha_hessian",
  "analysis",
  "config",
  "core",
  "data",
  "genotype_from_dict",
  "get_space",
  "get_task",
  "infra",
  "load_genotype",
  "load_network",
  "load_search",
  "make_hessian_fn",
  "make_plots",
  "make_search_setup",
  "nb201_protocol",
  "register_regularizer",
  "register_space",
  "register_task",
  "retrain_config",
  "run",
  "runlocal",
  "sa_darts_protocol",
  "save_network",
  "search_config",
  "select_config",
  "spaces",
  "tasks",
  "validate_search_config",
]
