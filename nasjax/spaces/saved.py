"""A trained network saved to a folder for use: a supernet with frozen op weights, or a genotype's.

The single-stage protocol (arXiv 2405.16610) keeps the supernet with its
real-valued op weights as the final network (:mod:`nasjax.run.single_stage`);
retraining saves a genotype's discrete network the same way
(:mod:`nasjax.tasks.super_resolution.retrain`,
:mod:`nasjax.tasks.segmentation.retrain`). :func:`save_network` writes
either as a folder (``network.json`` plus the arrays through orbax);
:func:`load_network` gives it back as a callable.

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
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from nasjax.infra.checkpoint import CheckpointError
from nasjax.infra.jsonfiles import write_json
from nasjax.spaces import flops
from nasjax.spaces.registry import genotype_from_dict, get_space

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

  Mixing weights saved under an alpha tensor's old name (the space's
  ``renamed_alphas``) are read under the current one.

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
    op_weights=space.current_names(tree.get("op_weights", {}) or {}),
    edge_logits=space.current_names(tree.get("edge_logits", {}) or {}),
    space_config=space_config,
    genotype=genotype,
  )
