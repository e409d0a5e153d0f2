"""The DARTS CNN search space: registry, op sets, supernet wiring and genotype derivation."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from nasjax.config.search import search_config
from nasjax.errors import ConfigError
from nasjax.infra.compilation import init_variables
from nasjax.spaces import get_space, ops
from nasjax.spaces.darts import space as darts_config
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.darts.genotype import DARTS_OPS, DartsGenotype
from nasjax.spaces.nb201.genotype import NB201_OPS

SPACE = get_space("darts")


def _cfg(**fields):
  base = dict(darts_config.DEFAULTS, name="darts")
  base.update(fields)
  return ml_collections.ConfigDict(base)


def _param_count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


@pytest.mark.parametrize("k, published", [(1, 1_930_618), (4, 299_578)])
def test_parameter_counts_equal_the_published_search_networks(k, published):
  """DARTS' and PC-DARTS' CIFAR search logs report 1.930618M and 0.299578M parameters."""
  net = SPACE.build_supernet(_cfg(partial_channels=k))
  w = {name: jnp.zeros(s) for name, s in SPACE.alpha_shapes(_cfg()).items()}
  x = jnp.zeros((2, 32, 32, 3))
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), x, w, train=True))
  assert _param_count(shapes["params"]) == published
  logits = jax.eval_shape(lambda v: net.apply(v, x, w, train=False), shapes)
  assert logits.shape == (2, 10)
  p = shapes["params"]
  # Reductions at cells 2 and 5: cell 3 preprocesses c_{k-2} with a FactorizedReduce of 4C inputs.
  assert "conv_1" in p["cell_3"]["preprocess0"] and "conv_1" not in p["cell_2"]["preprocess0"]
  assert p["cell_3"]["preprocess0"]["conv_1"]["kernel"].shape == (1, 1, 64, 16)
  # A stride-2 skip_connect is a FactorizedReduce; a stride-1 one has no parameters.
  assert "skip_connect" in p["cell_2"]["edge_0"] and "skip_connect" not in p["cell_0"]["edge_0"]
  assert "skip_connect" not in p["cell_2"]["edge_4"]  # edge 4 reads node 0: stride 1
  assert "skip_connect" in p["cell_2"]["edge_3"]  # edge 3 reads c_{k-1}: stride 2


def test_op_sets_and_shapes():
  assert SPACE.alpha_shapes(_cfg()) == {"normal": (14, 8), "reduce": (14, 8)}
  assert SPACE.op_names(_cfg()) == DARTS_OPS
  assert SPACE.beta_shapes(_cfg()) == {}
  assert SPACE.beta_shapes(_cfg(edge_normalization=True)) == {"normal": (14,), "reduce": (14,)}
  assert SPACE.op_names(_cfg(op_set="s2")) == ("skip_connect", "sep_conv_3x3")
  assert SPACE.op_names(_cfg(op_set="s3")) == ("none", "skip_connect", "sep_conv_3x3")
  assert SPACE.op_names(_cfg(op_set="s4")) == ("noise", "sep_conv_3x3")
  assert SPACE.alpha_shapes(_cfg(op_set="s3")) == {"normal": (14, 3), "reduce": (14, 3)}
  # An explicit list overrides the op set and keeps its order.
  assert SPACE.op_names(_cfg(op_set="s1", ops=("sep_conv_3x3", "none"))) == ("sep_conv_3x3", "none")
  s1 = _cfg(op_set="s1")
  assert SPACE.alpha_shapes(s1) == {"normal": (14, 2), "reduce": (14, 2)}
  per_edge = SPACE.ops_per_row(s1)
  assert per_edge["normal"][5] == ("max_pool_3x3", "skip_connect")
  assert per_edge["normal"][12] == ("dil_conv_3x3", "dil_conv_5x5")
  assert per_edge["reduce"][0] == ("max_pool_3x3", "avg_pool_3x3")
  assert per_edge["reduce"][6] == ("max_pool_3x3", "sep_conv_3x3")
  assert SPACE.ops_per_row(_cfg(op_set="s2"))["reduce"] == (("skip_connect", "sep_conv_3x3"),) * 14
  nb201_rows = get_space("nb201").ops_per_row(search_config().space)
  assert nb201_rows["cell"] == (NB201_OPS,) * 6


@pytest.mark.parametrize(
  "fields, match",
  [
    (dict(width=3), "width"),
    (dict(channels=0), "channels"),
    (dict(layers=2.5), "layers"),
    (dict(multiplier=5), "multiplier"),
    (dict(op_set="s5"), "op_set"),
    (dict(ops=("sep_conv_7x7",)), "sep_conv_7x7"),
    (dict(ops=("none",)), "ops"),
    (dict(ops=("skip_connect", "skip_connect")), "ops"),
    (dict(ops="skip_connect"), "ops"),
    (dict(partial_channels=0), "partial_channels"),
    (dict(channels=10, partial_channels=4), "divisible"),
    (dict(edge_normalization=1), "edge_normalization"),
    (dict(op_set="s1", steps=3, multiplier=3), "steps"),
  ],
)
def test_invalid_configs_name_the_field(fields, match):
  with pytest.raises(ConfigError, match=match):
    SPACE.validate(_cfg(**fields))


def test_valid_configs_pass():
  for op_set in darts.OP_SETS:
    SPACE.validate(_cfg(op_set=op_set))
  SPACE.validate(_cfg(partial_channels=4, edge_normalization=True))
  SPACE.validate(_cfg(steps=3, multiplier=2, ops=("skip_connect", "noise")))


def _hand_probs() -> np.ndarray:
  """Op probabilities of a normal cell (columns: DARTS_OPS) with a known DARTS derivation."""
  col = {name: k for k, name in enumerate(DARTS_OPS)}
  p = np.full((14, 8), 0.01)
  # Node 0 (edges 0, 1 from states 0, 1): `none` dominates edge 0 but is never chosen.
  p[0, col["none"]], p[0, col["sep_conv_3x3"]] = 0.9, 0.05
  p[1, col["skip_connect"]] = 0.3
  # Node 1 (edges 2, 3, 4 from states 0, 1, 2).
  p[2, col["dil_conv_3x3"]] = 0.5
  p[3, col["none"]], p[3, col["max_pool_3x3"]] = 0.99, 0.1
  p[4, col["avg_pool_3x3"]] = 0.4
  # Node 2 (edges 5..8 from states 0..3).
  p[5, col["sep_conv_5x5"]], p[6, col["dil_conv_5x5"]] = 0.2, 0.25
  p[7, col["sep_conv_3x3"]], p[8, col["skip_connect"]] = 0.3, 0.35
  # Node 3 (edges 9..13 from states 0..4).
  p[9, col["max_pool_3x3"]], p[13, col["dil_conv_5x5"]] = 0.6, 0.7
  return p


# By hand: per node the two edges with the largest non-`none` entry, best first.
HAND_NORMAL = (
  ("skip_connect", 1), ("sep_conv_3x3", 0),
  ("dil_conv_3x3", 0), ("avg_pool_3x3", 2),
  ("skip_connect", 3), ("sep_conv_3x3", 2),
  ("dil_conv_5x5", 4), ("max_pool_3x3", 0),
)  # fmt: skip


def test_derivation_keeps_the_two_strongest_edges_per_node():
  p = _hand_probs()
  reduce = np.roll(p, 1, axis=1)  # every op shifted one column to the right
  g = SPACE.derive_genotype({"normal": jnp.asarray(p), "reduce": jnp.asarray(reduce)}, _cfg())
  assert g.normal == HAND_NORMAL
  assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)
  # Shifted columns: node 0 edge 0 now peaks at `max_pool_3x3` (the shifted `none`, 0.9).
  assert g.reduce[:2] == (("max_pool_3x3", 0), ("sep_conv_3x3", 1))
  assert g == DartsGenotype.from_string(g.to_string())


def test_edge_normalisation_changes_the_chosen_edges():
  p = _hand_probs()
  betas = np.zeros(14)
  # Node 1's edges weigh softmax(0, ln 8, 0) = (0.1, 0.8, 0.1): scores 0.05, 0.08, 0.04,
  # so edge 3 (max_pool on state 1) beats edge 4 (avg_pool on state 2, 0.4 before).
  betas[3] = np.log(8.0)
  probs = {"normal": jnp.asarray(p), "reduce": jnp.asarray(p)}
  g = SPACE.derive_genotype(
    probs, _cfg(edge_normalization=True), {"normal": betas, "reduce": 0 * betas}
  )
  assert g.normal[2:4] == (("max_pool_3x3", 1), ("dil_conv_3x3", 0))
  assert g.normal[:2] + g.normal[4:] == HAND_NORMAL[:2] + HAND_NORMAL[4:]
  assert g.reduce == HAND_NORMAL  # equal betas within every node change nothing
  assert SPACE.derive_genotype(probs, _cfg(), {}).normal == HAND_NORMAL


def test_s1_derivation_uses_each_edges_own_ops():
  p = np.tile([0.6, 0.4], (14, 1))
  p[12] = [0.1, 0.9]  # normal edge 12 (node 3 <- state 3): (dil_conv_3x3, dil_conv_5x5)
  r = np.tile([0.6, 0.4], (14, 1))
  r[1] = [0.2, 0.8]  # reduce edge 1 (node 0 <- state 1): (max_pool_3x3, dil_conv_3x3)
  g = SPACE.derive_genotype({"normal": p, "reduce": r}, _cfg(op_set="s1"))
  # Ties keep the lower input first; column 0 of each edge's own pair otherwise.
  assert g.normal == (
    ("skip_connect", 0), ("skip_connect", 1),  # edges 0, 1
    ("skip_connect", 0), ("skip_connect", 1),  # edges 2, 3
    ("max_pool_3x3", 0), ("skip_connect", 1),  # edges 5, 6
    ("dil_conv_5x5", 3), ("skip_connect", 0),  # edges 12, 9
  )  # fmt: skip
  assert g.reduce == (
    ("dil_conv_3x3", 1), ("max_pool_3x3", 0),  # edges 1, 0
    ("max_pool_3x3", 0), ("max_pool_3x3", 1),  # edges 2, 3
    ("max_pool_3x3", 0), ("max_pool_3x3", 1),  # edges 5, 6
    ("max_pool_3x3", 0), ("max_pool_3x3", 1),  # edges 9, 10
  )  # fmt: skip


def _reference_cell(params, s0, s1, w, edge_w, steps, reduction_prev):
  """DARTS' search cell written out op by op (``none`` included as zeros)."""
  bn = dict(affine=False, track_running_stats=False)
  if reduction_prev:
    pre0 = ops.FactorizedReduce(4, **bn).apply({"params": params["preprocess0"]}, s0, True)
  else:
    pre0 = ops.ReLUConvBN(4, 1, **bn).apply({"params": params["preprocess0"]}, s0, True)
  states = [pre0, ops.ReLUConvBN(4, 1, **bn).apply({"params": params["preprocess1"]}, s1, True)]
  e = 0
  for i in range(steps):
    node = 0.0
    for j in range(i + 2):
      stride = 2 if j < 2 else 1  # a reduction cell
      mixed = 0.0
      for o, name in enumerate(DARTS_OPS):
        op = ops.DartsOp(name, 4, stride, **bn)
        y = op.apply({"params": params[f"edge_{e}"].get(name, {})}, states[j], True)
        if "pool" in name:
          y = ops.BatchNorm(**bn).apply({}, y, True)
        mixed = mixed + w[e, o] * y
      node = node + edge_w[e] * mixed
      e += 1
    states.append(node)
  return jnp.concatenate(states[-2:], axis=-1)


def test_search_cell_equals_the_op_by_op_reference():
  """A reduction cell after a reduction (FactorizedReduce preprocessing, stride-2 edges)."""
  steps = 2
  cell = darts.DartsSearchCell(
    4, (DARTS_OPS,) * 5, reduction=True, reduction_prev=True, steps=steps, multiplier=2
  )
  k0, k1, k2, k3 = jax.random.split(jax.random.key(0), 4)
  s0 = jax.random.normal(k0, (2, 16, 16, 6))
  s1 = jax.random.normal(k1, (2, 8, 8, 5))
  w = jax.nn.softmax(jax.random.normal(k2, (5, 8)))
  edge_w = jax.random.uniform(k3, (5,), minval=0.5, maxval=1.5)
  variables = init_variables(cell, jax.random.key(1), s0, s1, w)
  got = jax.jit(cell.apply)(variables, s0, s1, w, edge_w)
  assert got.shape == (2, 4, 4, 8)
  expected = _reference_cell(variables["params"], s0, s1, w, edge_w, steps, True)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  plain = jax.jit(cell.apply)(variables, s0, s1, w)
  np.testing.assert_allclose(
    plain, _reference_cell(variables["params"], s0, s1, w, jnp.ones(5), steps, True), atol=1e-5
  )


def test_noise_op_draws_from_the_noise_stream():
  edge = darts.DartsMixedEdge(("noise", "sep_conv_3x3"), 4, stride=2)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 4))
  w = jnp.array([1.0, 0.0])
  v = edge.init(jax.random.key(1), x, w)
  a = edge.apply(v, x, w, rngs={"noise": jax.random.key(2)})
  b = edge.apply(v, x, w, rngs={"noise": jax.random.key(3)})
  assert a.shape == (2, 4, 4, 4) and not np.allclose(a, b)
  np.testing.assert_array_equal(edge.apply(v, x, w), edge.apply(v, 2 * x, w))  # fixed key
  assert abs(float(jnp.std(a)) - 1.0) < 0.3


def test_pools_follow_pytorch_padding():
  x = -jnp.arange(16.0).reshape(1, 4, 4, 1) - 1.0  # all negative: zero padding would win
  y = ops.max_pool_3x3(x, 2)
  np.testing.assert_array_equal(y[0, :, :, 0], [[-1.0, -2.0], [-5.0, -6.0]])
  np.testing.assert_allclose(ops.avg_pool_3x3(x, 2)[0, 0, 0, 0], -(1 + 2 + 5 + 6) / 4)
