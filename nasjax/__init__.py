"""nasjax: robust differentiable neural architecture search in JAX.

The public API is flat: everything a notebook needs is importable from
``nasjax`` directly.

Example:
  >>> import jax, nasjax
  >>> config = nasjax.search_config()
  >>> config.space.channels, config.space.cells_per_stage = 4, 1
  >>> setup = nasjax.make_search_setup(config, steps_per_epoch=100)
  >>> state = setup.init(jax.random.key(0), (32, 32, 3))
  >>> nasjax.get_space('nb201').derive_genotype(state.alphas, config.space).space
  'nb201'
"""

from nasjax.bilevel import (
  SearchSetup,
  SearchState,
  alpha_optimizer,
  epoch_cosine_schedule,
  init_search_state,
  make_search_setup,
  make_search_step,
  momentum_buffer,
  weight_optimizer,
)
from nasjax.checkpoint import Checkpointer, CheckpointError
from nasjax.compilation import enable_compilation_cache, init_variables
from nasjax.config import (
  nb201_protocol,
  runlocal,
  sa_darts_protocol,
  search_config,
  validate_search_config,
)
from nasjax.conv import conv2d
from nasjax.data import ImageDataset, SearchData, load_dataset
from nasjax.errors import ConfigError, DataNotFoundError, NasjaxError
from nasjax.genotype import NB201_OPS, GenotypeError, NB201Genotype
from nasjax.hypergradient import (
  HYPERGRADIENTS,
  InnerStep,
  first_order,
  second_order_exact,
  second_order_fd,
  unrolled_weights,
)
from nasjax.losses import accuracy, cross_entropy
from nasjax.nb201 import BenchmarkTableError, NB201Result, NB201Table
from nasjax.regularizers import (
  Regularizer,
  beta_decay,
  entropy,
  l2,
  make_regularizer,
  sa_penalty,
  smooth_activation,
)
from nasjax.relax import Relaxation, Softmax, make_relaxation
from nasjax.spaces import SPACES, SearchSpace, get_space
from nasjax.spaces.nb201 import NB201Network, NB201Supernet, inherit_variables

__version__ = "0.1.0"

__all__ = [
  "HYPERGRADIENTS",
  "NB201_OPS",
  "SPACES",
  "BenchmarkTableError",
  "CheckpointError",
  "Checkpointer",
  "ConfigError",
  "DataNotFoundError",
  "GenotypeError",
  "ImageDataset",
  "InnerStep",
  "NB201Genotype",
  "NB201Network",
  "NB201Result",
  "NB201Supernet",
  "NB201Table",
  "NasjaxError",
  "Regularizer",
  "Relaxation",
  "SearchData",
  "SearchSetup",
  "SearchSpace",
  "SearchState",
  "Softmax",
  "accuracy",
  "alpha_optimizer",
  "beta_decay",
  "conv2d",
  "cross_entropy",
  "enable_compilation_cache",
  "entropy",
  "epoch_cosine_schedule",
  "first_order",
  "get_space",
  "inherit_variables",
  "init_search_state",
  "init_variables",
  "l2",
  "load_dataset",
  "make_regularizer",
  "make_relaxation",
  "make_search_setup",
  "make_search_step",
  "momentum_buffer",
  "nb201_protocol",
  "runlocal",
  "sa_darts_protocol",
  "sa_penalty",
  "search_config",
  "second_order_exact",
  "second_order_fd",
  "smooth_activation",
  "unrolled_weights",
  "validate_search_config",
  "weight_optimizer",
]
