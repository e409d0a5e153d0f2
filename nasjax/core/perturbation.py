"""Perturbation-based architecture selection (darts-PT) on a trained supernet.

Wang et al., "Rethinking Architecture Selection in Differentiable NAS"
(ICLR 2021, arXiv 2108.04392): an op's importance is how much the supernet's
validation accuracy drops when that op is removed, not the size of its alpha.
Starting from a trained supernet, with the weight optimiser reset:

1. **Ops.** Repeatedly pick an undecided edge (random or fixed order; one
   per alpha tensor per round, i.e. one normal and one reduction edge in
   the DARTS space), and for every candidate op set its mixing weight to 0
   (no renormalisation) and measure the validation accuracy of the supernet
   (batch-statistics BN, no gradient, the whole alpha half of the data).
   Keep the op whose removal hurts most; the edge becomes one-hot.
2. **Topology** (DARTS space). Then for each node with more than two
   inputs (in random or fixed order), repeatedly remove the input edge whose
   removal hurts least until two are left.
3. Between two decisions, fine-tune the supernet ``proj_interval`` epochs
   (the ordinary search step: alpha of undecided edges keeps training unless
   the search froze it).

Decisions live in the state as a projection (:mod:`nasjax.core.projection`), so
fine-tuning compiles once and scoring takes the mixing weights as data.
:class:`PerturbationSelection` is the ``step_hook`` of
:func:`nasjax.search.run` that makes the decisions at their steps; the
command line is ``python -m nasjax.select --method=pt`` (:mod:`nasjax.select`).

The formulas, defaults and their sources: ``docs/methods.md`` (Perturbation-based selection (PT)).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from ml_collections import ConfigDict

from nasjax.core import discretization, projection
from nasjax.infra.jsonfiles import read_jsonl
from nasjax.spaces.darts import supernet as darts

#: Decision criteria: ``acc`` keeps the op whose removal lowers validation
#: accuracy most; ``loss`` the one whose removal raises the loss most.
CRITERIA = ("acc", "loss")
EDGE_ORDERS = ("random", "fixed")


def node_edges(space_cfg: Any) -> dict[str, dict[int, list[int]]]:
  """Per alpha tensor, ``{node: its input edges}`` of every node with more than two inputs.

  Nodes are numbered from 0 (the first intermediate node), as in genotypes.

  Only the DARTS space keeps two inputs per node; NAS-Bench-201 cells keep
  every edge (an empty dict).
  """
  if space_cfg.name != "darts":
    return {}

  out, start = {}, 0
  for node, fan_in in enumerate(darts.node_fan_in(space_cfg.get("steps", 4))):
    if fan_in > 2:
      out[node] = list(range(start, start + fan_in))
    start += fan_in
  return {"normal": out, "reduce": out}


class PerturbationSelection:
  """The decisions of perturbation selection, as a ``step_hook`` of :func:`nasjax.search.run`.

  Decision ``k`` is made at step ``k * interval_steps``; the last one at the
  end of fine-tuning. Given the same state, a decision is the same (the
  random edge order is seeded by ``seed`` and the decision's index), so a
  resumed run repeats an interrupted decision exactly.

  Args:
    setup: the fine-tuning :class:`~nasjax.core.bilevel.SearchSetup`.
    val_batches: the validation data, fixed-size batches with a ``weight``
      field (the alpha half: ``SearchData.half_batches('alpha', ...)``).
    interval_steps: fine-tuning steps between two decisions.
    cfg: ``config.pt`` of the selection config (``edge_order``,
      ``criterion``, ``allow_none``).
    seed: seeds the random edge order.
    log_path: ``decisions.jsonl``, one record per decision (rewritten whole).
  """

  def __init__(
    self,
    setup: Any,
    val_batches: Iterable[dict[str, Any]],
    interval_steps: int,
    cfg: ConfigDict,
    seed: int,
    log_path: Path,
  ):
    self.setup, self.cfg, self.seed = setup, cfg, seed
    self.val_batches = list(val_batches)
    self.interval = interval_steps
    self.space_cfg = setup.config.space
    self.ops = setup.space.ops_per_row(self.space_cfg)
    self.shapes = setup.space.alpha_shapes(self.space_cfg)
    self.nodes = node_edges(self.space_cfg)
    self.op_rounds = max(shape[0] for shape in self.shapes.values())
    self.node_rounds = max((len(v) for v in self.nodes.values()), default=0)
    self.log_path = log_path
    self.records: dict[int, dict[str, Any]] = {}
    for r in read_jsonl(log_path):
      self.records[r["index"]] = r

  @property
  def num_decisions(self) -> int:
    """Op rounds (the most edges of any alpha tensor) plus node rounds."""
    return self.op_rounds + self.node_rounds

  def decisions_made(self, proj: projection.Projection) -> int:
    """How many decisions ``proj`` holds."""
    host = jax.device_get(proj)
    ops_done = max(int(np.sum(np.asarray(p["decided"]) > 0.5)) for p in host.values())
    if ops_done < self.op_rounds:
      return ops_done
    nodes_done = max(
      (
        sum(
          int(np.sum(np.asarray(host[name]["keep"])[edges] > 0.5)) <= 2 for edges in nodes.values()
        )
        for name, nodes in self.nodes.items()
      ),
      default=0,
    )
    return self.op_rounds + nodes_done

  def __call__(self, step: int, state):
    if step % self.interval:
      return state
    wanted = min(step // self.interval + 1, self.num_decisions)
    made = self.decisions_made(state.projection)
    while made < wanted:
      state = state.replace(projection=self.decide(made, state, step))
      made += 1
    return state

  # -- scoring ------------------------------------------------------------

  def _weights(self, state) -> dict[str, np.ndarray]:
    probs = self.setup.relaxation.probs(state.alphas)
    return {
      k: np.array(v) for k, v in jax.device_get(projection.apply(probs, state.projection)).items()
    }

  def _score(self, state, weights: dict[str, np.ndarray]) -> float:
    """The criterion (higher = the network is better off) of the supernet with ``weights``."""
    m = discretization.evaluate_weights(
      self.setup,
      state.params,
      state.batch_stats,
      weights,
      state.betas,
      self.val_batches,
      bn="batch",
    )
    return m[self.setup.task.metric] if self.cfg.criterion == "acc" else -m["loss"]

  def _pick(self, candidates: list[int], index: int, salt: int) -> int:
    if self.cfg.edge_order == "fixed":
      return min(candidates)
    rng = np.random.default_rng([self.seed, index, salt])
    return int(rng.choice(candidates))

  def decide(self, index: int, state, step: int) -> projection.Projection:
    """Decision ``index`` on ``state``: its new projection (and a record in the log)."""
    proj = jax.device_get(state.projection)
    record: dict[str, Any] = {"index": index, "step": step, "decisions": []}
    for salt, name in enumerate(sorted(self.shapes)):
      if index < self.op_rounds:
        proj = self._decide_op(state, proj, name, index, salt, record)
      else:
        proj = self._decide_node(state, proj, name, index, salt, record)
    self.records[index] = record
    self._write_log()
    return jax.tree.map(np.asarray, proj)

  def _decide_op(self, state, proj, name, index, salt, record):
    open_edges = projection.undecided(proj, name)
    if not open_edges:
      return proj
    edge = self._pick(open_edges, index, salt)
    base = self._weights(state.replace(projection=proj))
    names = self.ops[name][edge]
    scores = {}
    for o, op in enumerate(names):
      if op == "none" and not self.cfg.allow_none:
        continue
      w = {k: v.copy() for k, v in base.items()}
      w[name][edge, o] = 0.0
      scores[o] = self._score(state, w)
    chosen = min(scores, key=lambda o: (scores[o], o))  # removal hurts most
    record["decisions"].append(
      {
        "kind": "op",
        "tensor": name,
        "edge": edge,
        "op": names[chosen],
        "scores": {names[o]: s for o, s in scores.items()},
      }
    )
    return projection.decide_op(proj, name, edge, chosen)

  def _decide_node(self, state, proj, name, index, salt, record):
    keep = np.asarray(proj[name]["keep"])
    open_nodes = [n for n, edges in self.nodes[name].items() if np.sum(keep[edges] > 0.5) > 2]
    if not open_nodes:
      return proj
    node = self._pick(open_nodes, index, salt)
    edges = [e for e in self.nodes[name][node] if keep[e] > 0.5]
    removed, rounds = [], []
    while len(edges) > 2:
      base = self._weights(state.replace(projection=projection.prune_edges(proj, name, removed)))
      scores = {}
      for e in edges:
        w = {k: v.copy() for k, v in base.items()}
        w[name][e] = 0.0
        scores[e] = self._score(state, w)
      drop = max(edges, key=lambda e: (scores[e], -e))  # removal hurts least
      rounds.append({str(e): s for e, s in scores.items()})
      removed.append(drop)
      edges.remove(drop)
    record["decisions"].append(
      {"kind": "edges", "tensor": name, "node": node, "kept": edges, "scores": rounds}
    )
    return projection.prune_edges(proj, name, removed)

  def _write_log(self) -> None:
    if jax.process_index() != 0:
      return
    lines = [json.dumps(self.records[k]) for k in sorted(self.records)]
    tmp = self.log_path.with_name(self.log_path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(self.log_path)
