"""The single-stage read-out: alpha frozen at its real values, the same weights trained on.

The single-stage protocol (arXiv 2405.16610) skips discretisation: after
search, alpha's gradient is stopped and its optimiser dropped, the same
weights train on (``python -m nasjax.select --method=single_stage``), and
the supernet itself, with its real-valued op weights, is the final network,
saved for use (:mod:`nasjax.spaces.saved`).

The formulas, defaults and their sources: ``docs/methods.md`` (Single-stage protocol).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from nasjax.core.setup import make_search_setup
from nasjax.errors import ConfigError
from nasjax.infra.jsonfiles import write_json
from nasjax.run import search, search_log
from nasjax.run.restore import (
  LoadedSearch,
  benchmark_record,
  continue_from,
  continued_config,
  search_genotype,
)
from nasjax.spaces import flops
from nasjax.spaces.base import select_like
from nasjax.spaces.registry import get_space
from nasjax.spaces.saved import load_network, save_network

ConfigDict = ml_collections.ConfigDict


def _pruning(config: ConfigDict, c: ConfigDict, weights: Any) -> dict[str, Any] | None:
  """Sets ``c.space``'s pruning fields from the frozen weights; None without pruning.

  Raises:
    ConfigError: for a threshold on a space that cannot prune.
  """
  threshold = float(config.single_stage.get("prune_threshold", 0.0))
  if threshold <= 0:
    return None
  space = get_space(c.space.name)
  if space.prune_fields is None:
    raise ConfigError(
      f"space {space.name!r} cannot prune paths; set --config.single_stage.prune_threshold=0"
    )
  fields = space.prune_fields(weights, c.space, threshold)
  with c.unlocked():
    c.space.update(fields)
  return {"threshold": threshold, **{k: list(v) for k, v in fields.items()}}


def train(config: ConfigDict, loaded: LoadedSearch, out: Path) -> dict[str, Any]:
  """``nasjax.select --method=single_stage``: continue training with alpha frozen, then save.

  With ``config.single_stage.prune_threshold`` > 0 (spaces with
  :attr:`~nasjax.spaces.SearchSpace.prune_fields`), the paths and ops whose
  frozen weight is below the threshold are removed from the supernet first;
  the rest keeps its weights and trains on.

  Args:
    config: the selection config (its ``single_stage`` block, ``eval``, ...).
    loaded: the finished search (:func:`nasjax.run.restore.load_search`).
    out: the output folder (``SEARCH_DIR/select/single_stage``).

  Returns:
    The record written to ``final.json``: test accuracy and loss, parameters
    and multiply-adds of the network, and the same of the argmax network;
    for segmentation also the mIoU on the whole test images, and with
    pruning what it removed and the multiply-adds it saved.
  """
  ss = config.single_stage
  c = continued_config(loaded.config, config)
  c.epochs = ss.epochs or loaded.config.epochs
  c.optimizer.weights.lr = ss.lr
  c.optimizer.weights.lr_min = ss.lr_min
  c.optimizer.alpha.frozen = True
  if ss.both_halves:
    c.data.split_policy = "shared"
    c.data.split_ratio = 0.5
  spe = loaded.search_data.steps_per_epoch
  weights = jax.device_get(loaded.setup.relaxation.probs(loaded.state.alphas))
  pruning = _pruning(config, c, weights)
  base_state = continue_from(loaded)

  def initial_state(setup, image_shape):
    state = base_state(setup, image_shape)
    if pruning is None:
      return state
    probs = setup.relaxation.probs(state.alphas)
    edge = {"edge_logits": state.betas} if jax.tree.leaves(state.betas) else {}
    x = jnp.zeros((2, *image_shape), jnp.float32)
    layout = jax.eval_shape(
      lambda: setup.model.init(jax.random.key(0), x, probs, train=True, **edge)
    )
    params = select_like(state.params, layout["params"])
    batch_stats = select_like(state.batch_stats, layout.get("batch_stats", {}))
    return state.replace(
      params=params, batch_stats=batch_stats, weight_opt_state=setup.weight_tx.init(params)
    )

  final_state: dict[str, Any] = {}

  def capture(step, state):  # the trained state at the end (the hook sees it last)
    final_state["state"] = state
    return state

  search.run(c, out, initial_state=initial_state, step_hook=capture, kind="single-stage")
  state = final_state["state"]
  setup = make_search_setup(c, spe)
  test = search_log.evaluate_test_split(
    jax.jit(setup.evaluate), state, loaded.search_data, config.eval.batch_size, config.eval.limit
  )
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  kwargs = {"edge_logits": state.betas} if jax.tree.leaves(state.betas) else {}
  cost_shape = tuple(setup.task.cost_shape(loaded.image_shape))
  macs = flops.multiply_adds(setup.model, variables, cost_shape, weights, train=False, **kwargs)
  genotype = search_genotype(loaded)
  derived = setup.space.build_network(genotype, c.space)
  derived_vars = jax.eval_shape(
    lambda: derived.init(jax.random.key(0), jnp.zeros((1, *loaded.image_shape)), train=False)
  )
  info = {
    "method": "single_stage",
    "epochs": c.epochs,
    "both_halves": bool(ss.both_halves),
    f"test_{setup.task.metric}": test[setup.task.metric],
    "test_loss": test["loss"],
    "test_examples": test["count"],
    "params": flops.count_params(state.params),
    "multiply_adds": macs,
    "cost_shape": list(cost_shape),
    "two_stage": {
      "genotype": genotype.to_dict(),
      "benchmark": benchmark_record(loaded.config, genotype),
      "params": flops.count_params(derived_vars["params"]),
      "multiply_adds": flops.multiply_adds(derived, derived_vars, cost_shape, train=False),
    },
  }
  if pruning is not None:
    full_vars = {"params": loaded.state.params, "batch_stats": loaded.state.batch_stats}
    before = flops.multiply_adds(
      loaded.setup.model, full_vars, cost_shape, weights, train=False, **kwargs
    )
    pruning.update(
      transitions=len(pruning.get("pruned_transitions", [])),
      ops=len(pruning.get("pruned_ops", [])),
      params_before=flops.count_params(loaded.state.params),
      params_after=info["params"],
      multiply_adds_before=before,
      multiply_adds_after=macs,
      saved_fraction=1.0 - macs / before if before else 0.0,
    )
    info["pruning"] = pruning
  path = save_network(
    out / "network", c.space, state.params, state.batch_stats, weights, state.betas, info
  )
  if setup.task.evaluate_network is not None:  # e.g. segmentation's mIoU on whole images
    info.update(setup.task.evaluate_network(load_network(path), c.data, loaded.search_data))
  if jax.process_index() == 0:
    write_json(out / "final.json", info)
  return info
