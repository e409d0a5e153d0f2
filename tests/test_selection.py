"""Selection on a trained supernet: PT decisions, frozen alpha, the single-stage network."""

from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from conftest import normalized_batch, tiny_config

from nasjax.core import perturbation as selection
from nasjax.core import projection
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext
from nasjax.spaces import get_space, saved


@pytest.fixture(scope="module")
def batches(cifar_subset):
  return [normalized_batch(cifar_subset, 16 * k, 16) for k in range(6)]


@pytest.fixture(scope="module")
def trained(batches):
  """A tiny NB201 supernet after a few search steps on real data."""
  setup = make_search_setup(tiny_config(), steps_per_epoch=4)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  step = jax.jit(setup.step)
  for k in range(4):
    state, _ = step(state, batches[k], batches[k + 1])
  return setup, state


def _val(batches):
  return [{**b, "weight": np.ones(len(b["label"]), np.float32)} for b in batches[4:6]]


def _hand_loss_acc(setup, state, weights, val):
  """Validation loss/accuracy by plain model.apply (batch statistics), no nasjax helper."""
  losses, correct, n = [], 0.0, 0
  for b in val:
    logits = setup.model.apply(
      {"params": state.params, "batch_stats": state.batch_stats},
      b["image"],
      {k: jnp.asarray(v) for k, v in weights.items()},
      train=True,
      mutable=["batch_stats"],
    )[0]
    losses.append(optax.softmax_cross_entropy_with_integer_labels(logits, b["label"]))
    correct += float(jnp.sum(jnp.argmax(logits, -1) == b["label"]))
    n += len(b["label"])
  return float(jnp.mean(jnp.concatenate(losses))), correct / n


@pytest.mark.parametrize("criterion", ["loss", "acc"])
def test_pt_keeps_the_op_whose_removal_hurts_most(trained, batches, tmp_path, criterion):
  setup, state = trained
  shapes = setup.space.alpha_shapes(setup.config.space)
  state = state.replace(projection=projection.empty(shapes))
  cfg = ml_collections.ConfigDict(dict(edge_order="fixed", criterion=criterion, allow_none=False))
  pt = selection.PerturbationSelection(setup, _val(batches), 10, cfg, 0, tmp_path / "d.jsonl")
  new = pt.decide(0, state, 0)
  ops = setup.space.op_names(setup.config.space)
  probs = jax.device_get(setup.relaxation.probs(state.alphas))
  scores = {}
  for o, op in enumerate(ops):
    if op == "none":
      continue
    w = {"cell": np.array(probs["cell"])}
    w["cell"][0, o] = 0.0  # edge 0: the fixed order's first undecided edge
    loss, acc = _hand_loss_acc(setup, state, w, _val(batches))
    scores[op] = acc if criterion == "acc" else -loss
  expected = min(scores, key=lambda op: (scores[op], ops.index(op)))
  assert projection.choices(new)["cell"] == [ops.index(expected), -1, -1, -1, -1, -1]
  record = pt.records[0]["decisions"][0]
  assert record["op"] == expected and record["edge"] == 0
  got = {k: v for k, v in record["scores"].items()}
  for op in scores:
    assert got[op] == pytest.approx(scores[op], rel=1e-4, abs=1e-6)
  assert "none" not in got


def test_pt_hook_schedule_is_deterministic_and_idempotent(trained, batches, tmp_path):
  setup, state = trained
  shapes = setup.space.alpha_shapes(setup.config.space)
  state = state.replace(projection=projection.empty(shapes))
  cfg = ml_collections.ConfigDict(dict(edge_order="random", criterion="loss", allow_none=False))
  make = lambda seed, name: selection.PerturbationSelection(
    setup, _val(batches), 10, cfg, seed, tmp_path / name
  )
  pt = make(3, "a.jsonl")
  assert pt.num_decisions == 6
  s = state
  for step in (0, 5, 10, 10, 20):  # two calls at step 10, one between decision steps
    s = pt(step, s)
  assert pt.decisions_made(s.projection) == 3
  again = make(3, "b.jsonl")(20, state)  # catch up in one call: the same three decisions
  assert projection.choices(again.projection) == projection.choices(s.projection)
  final = pt(50, s)
  assert pt.decisions_made(final.projection) == 6
  assert all(c >= 0 for c in projection.choices(final.projection)["cell"])
  lines = (tmp_path / "a.jsonl").read_text().splitlines()
  assert len(lines) == 6
  genotype = setup.space.derive_genotype(
    jax.device_get(projection.apply(setup.relaxation.probs(s.alphas), final.projection)),
    setup.config.space,
  )
  ops = setup.space.op_names(setup.config.space)
  assert [ops.index(op) for op in genotype.edges] == projection.choices(final.projection)["cell"]


def test_projection_reaches_the_step_and_the_loss(trained, batches):
  setup, state = trained
  shapes = setup.space.alpha_shapes(setup.config.space)
  proj = projection.decide_op(projection.empty(shapes), "cell", 2, 1)
  weights = {
    k: np.array(v) for k, v in setup.relaxation.weights(state.alphas, None, True, 0).items()
  }
  weights["cell"][2] = np.eye(weights["cell"].shape[1])[1]
  direct = setup.model.apply(
    {"params": state.params, "batch_stats": state.batch_stats},
    batches[0]["image"],
    weights,
    train=True,
    mutable=["batch_stats"],
  )[0]
  loss, (logits, _) = setup.loss(
    state.params,
    state.alphas,
    batches[0],
    ForwardContext(state.batch_stats, projection=proj),
    state.betas,
  )
  np.testing.assert_allclose(logits, direct, rtol=1e-5, atol=1e-5)
  # The alpha of a decided edge gets no hypergradient from the loss.
  grads = jax.grad(
    lambda a: setup.loss(
      state.params, a, batches[0], ForwardContext(state.batch_stats, projection=proj)
    )[0]
  )(state.alphas)
  assert float(jnp.abs(grads["cell"][2]).max()) == 0.0
  assert float(jnp.abs(grads["cell"][0]).max()) > 0.0
  del loss


def test_frozen_alpha_stays_and_the_weights_train(batches):
  config = tiny_config()
  config.optimizer.alpha.update(frozen=True, init_std=0.0)
  setup = make_search_setup(config, steps_per_epoch=4)
  state = setup.init(jax.random.key(1), (32, 32, 3))
  assert float(jnp.abs(state.alphas["cell"]).max()) == 0.0  # uniform
  before = jax.device_get(state.params)
  step = jax.jit(setup.step)
  for k in range(2):
    state, metrics = step(state, batches[k], batches[k + 1])
  assert float(jnp.abs(state.alphas["cell"]).max()) == 0.0
  assert float(metrics["alpha/grad_norm"]) == 0.0 and float(metrics["val/loss"]) > 0
  moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), state.params, before)
  assert max(jax.tree.leaves(moved)) > 0


def test_skip_biased_and_negative_alpha_start():
  base = tiny_config()
  biased = tiny_config()
  biased.optimizer.alpha.update(init_bias=0.1, init_offset=-1.0)
  key = jax.random.key(7)
  a0 = make_search_setup(base, 4).init(key, (32, 32, 3)).alphas["cell"]
  a1 = make_search_setup(biased, 4).init(key, (32, 32, 3)).alphas["cell"]
  ops = get_space("nb201").op_names(base.space)
  expected = np.full(a0.shape, -1.0) + 0.1 * (np.array(ops) == "skip_connect")[None, :]
  np.testing.assert_allclose(np.asarray(a1) - np.asarray(a0), expected, atol=1e-6)


def test_single_stage_network_equals_the_frozen_supernet(trained, batches, tmp_path):
  setup, state = trained
  probs = jax.device_get(setup.relaxation.probs(state.alphas))
  path = saved.save_network(
    tmp_path / "network",
    setup.config.space,
    state.params,
    state.batch_stats,
    probs,
    state.betas,
    {"note": "test"},
  )
  net = saved.load_network(path)
  images = batches[5]["image"]
  np.testing.assert_allclose(net(images), setup.logits(state, images), rtol=1e-6, atol=1e-6)
  assert Path(path, "network.json").is_file()


def test_load_network_explains_a_wrong_folder(tmp_path):
  from nasjax.infra.checkpoint import CheckpointError

  with pytest.raises(CheckpointError, match="holds no single-stage network"):
    saved.load_network(tmp_path)


def test_pt_prunes_a_darts_node_to_the_two_inputs_whose_removal_hurts_most(batches, tmp_path):
  from nasjax.config.protocols import darts_space

  config = tiny_config()
  config.space = darts_space()
  config.space.update(channels=4, layers=3, steps=3, multiplier=3)
  config.space.ops = ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3")
  setup = make_search_setup(config, steps_per_epoch=4)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  shapes = setup.space.alpha_shapes(config.space)
  proj = projection.empty(shapes)
  for name, (edges, _) in shapes.items():  # every op decided: the topology round comes next
    for e in range(edges):
      proj = projection.decide_op(proj, name, e, 1 + e % 3)
  state = state.replace(projection=proj)
  cfg = ml_collections.ConfigDict(dict(edge_order="fixed", criterion="loss", allow_none=False))
  pt = selection.PerturbationSelection(setup, _val(batches), 10, cfg, 0, tmp_path / "d.jsonl")
  assert pt.op_rounds == 9 and pt.node_rounds == 2  # nodes of 3 and 4 inputs
  assert pt.decisions_made(state.projection) == 9
  new = pt.decide(9, state, 0)
  assert pt.decisions_made(new) == 10
  # By hand: node 1 (edges 2, 3, 4) of each cell type loses the edge whose removal hurts least.
  base = {
    k: np.array(v)
    for k, v in jax.device_get(projection.apply(setup.relaxation.probs(state.alphas), proj)).items()
  }
  for name in ("normal", "reduce"):
    losses = {}
    for e in (2, 3, 4):
      w = {k: v.copy() for k, v in base.items()}
      w[name][e] = 0.0
      losses[e] = _hand_loss_acc(setup, state, w, _val(batches))[0]
    dropped = min(losses, key=lambda e: (losses[e], e))  # lowest loss without it
    keep = np.asarray(new[name]["keep"])
    assert keep[dropped] == 0 and keep.sum() == len(keep) - 1, (name, losses, keep)
  record = pt.records[9]["decisions"]
  assert [d["kind"] for d in record] == ["edges", "edges"] and all(d["node"] == 1 for d in record)
