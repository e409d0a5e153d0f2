"""The single-stage network: a supernet with its real-valued alpha frozen, saved for use.

The single-stage protocol (arXiv 2405.16610) skips discretisation: after
search, alpha's gradient is stopped and its optimiser dropped, the same
weights train on (:mod:`nasjax.select`, ``--method=single_stage``), and the
supernet itself, with its real-valued op weights, is the final network.
:func:`save_network` writes it as a folder (``network.json`` plus the arrays
through orbax); :func:`load_network` gives it back as a callable.

Example (after ``python -m nasjax.select --workdir=W --method=single_stage``)::

  net = nasjax.load_network('W/select/single_stage/network')
  logits = net(images)  # (N, 32, 32, 3) normalised images -> (N, classes)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from nasjax import bilevel, flops, search
from nasjax.checkpoint import CheckpointError
from nasjax.genotype import genotype_from_dict
from nasjax.metrics import write_json
from nasjax.restore import (
  LoadedSearch,
  benchmark_record,
  continue_from,
  continued_config,
  search_genotype,
)
from nasjax.spaces import get_space

ConfigDict = ml_collections.ConfigDict

ARRAYS_DIR = "arrays"
META_FILE = "network.json"


@dataclasses.dataclass
class SingleStageNetwork:
  """A supernet with fixed op weights, called in evaluation mode.

  Attributes:
    model: the Flax supernet.
    variables: ``{'params': ..., 'batch_stats': ...}``.
    op_weights: the frozen mixing weights ``{name: (edges, ops)}`` (the
      relaxation's probabilities of the final alpha).
    edge_logits: raw edge-normalisation logits (empty without them).
    space_config: ``config.space`` of the search.
    genotype: for a discrete network (a retrained SR network), its genotype;
      the model is then the space's network of that genotype and
      ``op_weights`` is empty.
  """

  model: Any
  variables: dict[str, Any]
  op_weights: dict[str, np.ndarray]
  edge_logits: dict[str, np.ndarray]
  space_config: ml_collections.ConfigDict

  genotype: Any = None

  def __post_init__(self):
    kwargs = {"edge_logits": self.edge_logits} if self.edge_logits else {}
    if self.genotype is not None:  # a discrete network: no mixing weights
      self._apply = jax.jit(lambda v, x, w: self.model.apply(v, x, train=False))
    else:
      self._apply = jax.jit(lambda v, x, w: self.model.apply(v, x, w, train=False, **kwargs))

  def __call__(self, images: Any) -> jax.Array:
    """Logits of normalised NHWC ``images`` (evaluation-mode BN); SR networks give images."""
    out = self._apply(self.variables, images, self.op_weights)
    return out[0] if isinstance(out, tuple) else out


def save_network(
  path: str | Path,
  space_config: ml_collections.ConfigDict,
  params: Any,
  batch_stats: Any,
  op_weights: dict[str, Any],
  edge_logits: dict[str, Any],
  info: dict[str, Any] | None = None,
  genotype: Any = None,
) -> Path:
  """Writes a network to the folder ``path`` (replacing one there).

  A single-stage network is the supernet with ``op_weights``; with a
  ``genotype`` the network is that genotype's discrete network (``op_weights``
  and ``edge_logits`` empty).
  """
  path = Path(path).absolute()
  path.mkdir(parents=True, exist_ok=True)
  tree = jax.tree.map(
    np.asarray,
    jax.device_get(
      {
        "params": params,
        "batch_stats": batch_stats,
        "op_weights": op_weights,
        "edge_logits": edge_logits,
      }
    ),
  )
  if jax.process_index() == 0:
    with ocp.StandardCheckpointer() as ckpt:
      ckpt.save(path / ARRAYS_DIR, tree, force=True)
    meta = {"space": space_config.to_dict(), **(info or {})}
    if genotype is not None:
      meta["genotype"] = genotype.to_dict()
    write_json(path / META_FILE, meta)
  return path


def load_network(path: str | Path) -> SingleStageNetwork:
  """The single-stage network saved in the folder ``path``.

  Raises:
    CheckpointError: if the folder is not a saved network or cannot be read.
  """
  path = Path(path).absolute()
  if not (path / META_FILE).is_file():
    raise CheckpointError(
      f"{path} holds no single-stage network ({META_FILE} is missing); pass the network/ "
      f"folder that `python -m nasjax.select --method=single_stage` wrote"
    )
  meta = json.loads((path / META_FILE).read_text())
  space_config = ml_collections.ConfigDict(meta["space"])
  try:
    with ocp.StandardCheckpointer() as ckpt:
      tree = ckpt.restore(path / ARRAYS_DIR)
  except Exception as e:  # orbax raises many types for unreadable data
    raise CheckpointError(
      f"cannot read the network arrays in {path / ARRAYS_DIR} ({type(e).__name__}); "
      f"re-run the selection to write them again"
    ) from None
  space = get_space(space_config.name)
  genotype = None
  if meta.get("genotype") is not None:
    genotype = genotype_from_dict(meta["genotype"])
    model = space.build_network(genotype, space_config)
  else:
    model = space.build_supernet(space_config)
  return SingleStageNetwork(
    model=model,
    variables={"params": tree["params"], "batch_stats": tree.get("batch_stats", {}) or {}},
    op_weights=dict(tree.get("op_weights", {}) or {}),
    edge_logits=dict(tree.get("edge_logits", {}) or {}),
    space_config=space_config,
    genotype=genotype,
  )


def train(config: ConfigDict, loaded: LoadedSearch, out: Path) -> dict[str, Any]:
  """``nasjax.select --method=single_stage``: continue training with alpha frozen, then save.

  Args:
    config: the selection config (its ``single_stage`` block, ``eval``, ...).
    loaded: the finished search (:func:`nasjax.restore.load_search`).
    out: the output folder (``SEARCH_DIR/select/single_stage``).

  Returns:
    The record written to ``final.json``: test accuracy and loss, parameters
    and multiply-adds of the network, and the same of the argmax network.
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
  final_state: dict[str, Any] = {}

  def capture(step, state):  # the trained state at the end (the hook sees it last)
    final_state["state"] = state
    return state

  search.run(c, out, initial_state=continue_from(loaded), step_hook=capture, kind="single-stage")
  state = final_state["state"]
  setup = bilevel.make_search_setup(c, loaded.search_data.steps_per_epoch)
  test = search.evaluate_test_split(
    jax.jit(setup.evaluate), state, loaded.search_data, config.eval.batch_size, config.eval.limit
  )
  weights = jax.device_get(setup.relaxation.probs(state.alphas))
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  kwargs = {"edge_logits": state.betas} if jax.tree.leaves(state.betas) else {}
  macs = flops.multiply_adds(
    setup.model, variables, loaded.image_shape, weights, train=False, **kwargs
  )
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
    "two_stage": {
      "genotype": genotype.to_dict(),
      "benchmark": benchmark_record(loaded.config, genotype),
      "params": flops.count_params(derived_vars["params"]),
      "multiply_adds": flops.multiply_adds(derived, derived_vars, loaded.image_shape, train=False),
    },
  }
  save_network(
    out / "network", c.space, state.params, state.batch_stats, weights, state.betas, info
  )
  if jax.process_index() == 0:
    write_json(out / "final.json", info)
  return info
