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
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from nasjax.core import bilevel
from nasjax.errors import ConfigError
from nasjax.infra.checkpoint import CheckpointError
from nasjax.run import search, search_log
from nasjax.run.records import write_json
from nasjax.run.restore import (
  LoadedSearch,
  benchmark_record,
  continue_from,
  continued_config,
  search_genotype,
)
from nasjax.spaces import flops
from nasjax.spaces.base import select_like
from nasjax.spaces.registry import genotype_from_dict, get_space

ConfigDict = ml_collections.ConfigDict

#: The input size (H, W, 3) segmentation networks are costed at (Cityscapes' full frames).
SEG_COST_SHAPE = (1024, 2048, 3)

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

  def cost(self, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Parameters and multiply-adds of one forward pass on an input of ``input_shape`` (H, W, C)."""
    args = () if self.genotype is not None else (self.op_weights,)
    kwargs = {"edge_logits": self.edge_logits} if self.edge_logits else {}
    model, variables = self.model, self.variables
    macs = flops.multiply_adds(model, variables, input_shape, *args, train=False, **kwargs)
    return flops.count_params(self.variables["params"]), macs


def save_network(
  path: str | Path,
  space_config: ml_collections.ConfigDict,
  params: Any,
  batch_stats: Any,
  op_weights: dict[str, Any],
  edge_logits: dict[str, Any],
  info: dict[str, Any] | None = None,
  genotype: Any = None,
  module_fields: dict[str, Any] | None = None,
) -> Path:
  """Writes a network to the folder ``path`` (replacing one there).

  A single-stage network is the supernet with ``op_weights``; with a
  ``genotype`` the network is that genotype's discrete network (``op_weights``
  and ``edge_logits`` empty). ``module_fields`` are fields of the module
  that differ from what the space builds (e.g. a retrained network's BN,
  ``{'affine': True, 'track_running_stats': True}``); loading applies them.
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
    if module_fields:
      meta["module_fields"] = dict(module_fields)
    write_json(path / META_FILE, meta)
  return path


def find_network(workdir: str | os.PathLike) -> Path:
  """The saved network folder of a run: ``workdir`` itself, ``network/``, or a selection's.

  Accepts a ``network/`` folder, a retrain workdir holding one, a
  single-stage selection (``SEARCH/select/single_stage``) or its search
  workdir; ``$VAR`` and ``~`` expand.

  Raises:
    CheckpointError: if there is none.
  """
  root = Path(os.path.expandvars(str(workdir))).expanduser().absolute()
  for candidate in (root, root / "network", root / "select" / "single_stage" / "network"):
    if (candidate / META_FILE).is_file():
      return candidate
  raise CheckpointError(
    f"{root} holds no saved network; pass a retrain workdir (nasjax.sr_retrain, "
    f"nasjax.seg_retrain) or a single-stage selection (SEARCH/select/single_stage)"
  )


def run_name(network_path: Path) -> str:
  """The name of the run that saved the network folder ``network_path`` (a table row's name).

  ``RUN/network`` is named ``RUN``; ``SEARCH/select/single_stage/network`` by the search.
  """
  run = network_path.parent if network_path.name == "network" else network_path
  if run.name == "single_stage" and run.parent.name == "select":
    run = run.parent.parent
  return run.name


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
  if meta.get("module_fields"):
    model = model.clone(**meta["module_fields"])
  return SingleStageNetwork(
    model=model,
    variables={"params": tree["params"], "batch_stats": tree.get("batch_stats", {}) or {}},
    op_weights=dict(tree.get("op_weights", {}) or {}),
    edge_logits=dict(tree.get("edge_logits", {}) or {}),
    space_config=space_config,
    genotype=genotype,
  )


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
  setup = bilevel.make_search_setup(c, spe)
  test = search_log.evaluate_test_split(
    jax.jit(setup.evaluate), state, loaded.search_data, config.eval.batch_size, config.eval.limit
  )
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  kwargs = {"edge_logits": state.betas} if jax.tree.leaves(state.betas) else {}
  segmentation = setup.task.name == "segmentation"
  cost_shape = SEG_COST_SHAPE if segmentation else loaded.image_shape
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
  if segmentation:
    from nasjax.tasks.segmentation import evaluate as evaluate_seg

    scores = evaluate_seg.evaluate_on(load_network(path), c.data, loaded.search_data)
    info.update(test_miou=scores["miou"], test_pixel_acc_whole=scores["pixel_acc"])
    info["test_iou"] = scores["iou"]
  if jax.process_index() == 0:
    write_json(out / "final.json", info)
  return info
