"""A search's pure functions built from its config: :func:`make_search_setup`.

Validates the config, looks its space up in the registry, and builds the
supernet, the relaxation, the regularisers, both optimisers and the
learning-rate schedule into a :class:`~nasjax.core.bilevel.SearchSetup`.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.config import search_config
  >>> from nasjax.core.setup import make_search_setup
  >>> config = search_config()
  >>> config.space.channels, config.space.cells_per_stage = 4, 1
  >>> setup = make_search_setup(config, steps_per_epoch=10)
  >>> state = setup.init(jax.random.key(0), (32, 32, 3))
  >>> batch = {'image': jnp.zeros((8, 32, 32, 3)), 'label': jnp.zeros((8,), jnp.int32)}
  >>> state, metrics = jax.jit(setup.step)(state, batch, batch)
  >>> int(state.step), sorted(metrics)[:3]
  (1, ['alpha/entropy', 'alpha/grad_norm', 'lr'])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from nasjax.config.search import validate_search_config
from nasjax.core import hypergradient as hg
from nasjax.core.bilevel import Batch, Metrics, SearchSetup
from nasjax.core.optimizers import alpha_optimizer, epoch_cosine_schedule, weight_optimizer
from nasjax.core.regularizers import make_regularizer
from nasjax.core.relax import make_relaxation
from nasjax.core.state import SearchState
from nasjax.spaces.registry import get_space

Array = jax.Array


def _hypergradient(config: ml_collections.ConfigDict) -> Callable[..., Any]:
  fn = hg.HYPERGRADIENTS[config.hypergradient]
  if fn is hg.second_order_fd:
    fn = functools.partial(fn, radius=config.fd_radius)
  return fn


def make_search_setup(config: ml_collections.ConfigDict, steps_per_epoch: int) -> SearchSetup:
  """Validates ``config`` and builds the search's pure functions.

  Args:
    config: a search config (see :func:`nasjax.config.search_config`).
    steps_per_epoch: search steps per epoch; sets the cosine schedule and the
      epoch that regulariser schedules see.

  Raises:
    ConfigError: for an invalid config, naming the field.
  """
  validate_search_config(config)
  if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
    raise ValueError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
  space = get_space(config.space.name)
  relaxation = make_relaxation(config.relaxation, total_epochs=config.epochs)
  w_cfg = config.optimizer.weights
  lr_schedule = epoch_cosine_schedule(w_cfg.lr, w_cfg.lr_min, config.epochs, steps_per_epoch)
  return SearchSetup(
    config=config,
    space=space,
    model=space.build_supernet(config.space),
    relaxation=relaxation,
    regularizer=make_regularizer(
      config.regularizers, config.epochs, relaxation.probs, space.costs(config.space)
    ),
    weight_tx=weight_optimizer(w_cfg, lr_schedule),
    alpha_tx=alpha_optimizer(config.optimizer.alpha),
    lr_schedule=lr_schedule,
    hypergradient=_hypergradient(config),
    steps_per_epoch=steps_per_epoch,
    compute_dtype=compute_dtype(config.get("precision", "float32")),
  )


def compute_dtype(precision: str) -> Any:
  """The arithmetic dtype of ``config.precision``; None for float32 (no casts).

  ``auto`` is bfloat16 on GPU and TPU and float32 on CPU, where bfloat16
  arithmetic is emulated and slower.
  """
  if precision == "auto":
    precision = "float32" if jax.default_backend() == "cpu" else "bfloat16"
  return jnp.bfloat16 if precision == "bfloat16" else None


def init_search_state(
  config: ml_collections.ConfigDict, rng: Array, image_shape: tuple[int, ...] = (32, 32, 3)
) -> SearchState:
  """A fresh :class:`SearchState` for ``config`` (see :meth:`SearchSetup.init`)."""
  return make_search_setup(config, steps_per_epoch=1).init(rng, image_shape)


def make_search_step(
  config: ml_collections.ConfigDict, steps_per_epoch: int
) -> Callable[[SearchState, Batch, Batch], tuple[SearchState, Metrics]]:
  """The jitted search step ``(state, train_batch, val_batch) -> (state, metrics)``.

  The state argument is donated: do not reuse it after the call.
  """
  return jax.jit(make_search_setup(config, steps_per_epoch).step, donate_argnums=0)
