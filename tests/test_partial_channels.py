"""PC-DARTS' partial channels and edge normalisation, in the DARTS and NB201 spaces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.infra.compilation import init_variables
from nasjax.spaces import ops
from nasjax.spaces.darts import supernet as darts
from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.nb201 import supernet as nb201
from nasjax.spaces.nb201.genotype import NB201_OPS


def test_channel_shuffle_is_the_hand_permutation():
  x = jnp.arange(8.0).reshape(1, 1, 1, 8)
  # 4 groups of 2: channel i of group g goes to i * 4 + g.
  assert ops.channel_shuffle(x, 4)[0, 0, 0].tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
  assert ops.channel_shuffle(x, 2)[0, 0, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
  np.testing.assert_array_equal(ops.channel_shuffle(x, 1), x)


def test_partial_merge_pools_the_bypass_on_strided_edges():
  mixed = jnp.zeros((1, 2, 2, 1))
  bypass = jnp.arange(16.0).reshape(1, 4, 4, 1) * jnp.array([1.0, -1.0])  # 2 channels
  out = ops.partial_channel_merge(mixed, bypass, 3)
  # concat = [m, b0, b1] in 3 groups of 1: no reordering; b is 2x2 max-pooled.
  np.testing.assert_array_equal(out[0, :, :, 1], [[5.0, 7.0], [13.0, 15.0]])
  np.testing.assert_array_equal(out[0, :, :, 2], [[-0.0, -2.0], [-8.0, -10.0]])


@pytest.mark.parametrize("stride", [1, 2])
def test_darts_edge_mixes_only_the_first_channels(stride):
  c, k = 8, 4
  edge = darts.DartsMixedEdge(DARTS_OPS, c, stride, partial_channels=k)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, c))
  w = jax.nn.softmax(jax.random.normal(jax.random.key(1), (8,)))
  v = edge.init(jax.random.key(2), x, w)
  apply = jax.jit(lambda x: edge.apply(v, x, w))
  out = apply(x)
  assert out.shape == (2, 8 // stride, 8 // stride, c)
  # Same parameters as an edge of C/K channels on the first C/K input channels.
  small = darts.DartsMixedEdge(DARTS_OPS, c // k, stride)
  mixed = small.apply(v, x[..., : c // k], w)
  bypass = x[..., c // k :] if stride == 1 else ops.max_pool_2x2(x[..., c // k :])
  # After the shuffle: [m0, b0, b2, b4, m1, b1, b3, b5].
  np.testing.assert_allclose(out[..., [0, 4]], mixed, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(out[..., [1, 2, 3, 5, 6, 7]], bypass[..., [0, 2, 4, 1, 3, 5]])
  # Only the first C/K input channels reach the mixed channels.
  grad = jax.grad(lambda x: jnp.sum(jnp.sin(apply(x)[..., [0, 4]])))(x)
  assert np.all(np.asarray(grad[..., c // k :]) == 0.0)
  assert np.all(np.abs(np.asarray(grad[..., : c // k])).sum(axis=(0, 1, 2)) > 0)
  perturbed = apply(x.at[..., c // k :].add(1.0))
  np.testing.assert_array_equal(perturbed[..., [0, 4]], out[..., [0, 4]])


#: A few ops of each kind keep the compiles of the supernet tests short.
TINY_OPS = ("none", "max_pool_3x3", "skip_connect", "dil_conv_3x3")


def _tiny_darts(k):
  return darts.DartsSupernet(
    channels=4,
    layers=3,
    steps=2,
    multiplier=2,
    stem_multiplier=1,
    normal_ops=(TINY_OPS,) * 5,
    reduce_ops=(TINY_OPS,) * 5,
    partial_channels=k,
  )


def test_darts_edge_normalisation_with_equal_betas_averages_incoming_edges():
  net = _tiny_darts(1)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  w = {
    "normal": jax.nn.softmax(jax.random.normal(jax.random.key(1), (5, 4))),
    "reduce": jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 4))),
  }
  variables = init_variables(net, jax.random.key(2), x, w, train=True)

  @jax.jit
  def apply(w, betas):
    return net.apply(variables, x, w, train=True, edge_logits=betas, mutable=["batch_stats"])[0]

  betas = {n: jnp.full((5,), 0.7) for n in w}
  fan_in = jnp.array([2, 2, 3, 3, 3.0])  # edges 0-1 enter node 0, edges 2-4 node 1
  scaled = {n: w[n] / fan_in[:, None] for n in w}
  np.testing.assert_allclose(apply(w, betas), apply(scaled, None), rtol=1e-5, atol=1e-5)
  assert not np.allclose(apply(w, None), apply(scaled, None), atol=1e-3)


def test_darts_partial_supernet_runs_with_edge_logits():
  net = _tiny_darts(2)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  w = {n: jnp.full((5, 4), 1 / 4) for n in ("normal", "reduce")}
  betas = {n: jnp.zeros(5) for n in w}
  variables = init_variables(net, jax.random.key(2), x, w, train=True)
  kernel = variables["params"]["cell_0"]["edge_0"]["dil_conv_3x3"]["pointwise"]["kernel"]
  assert kernel.shape == (1, 1, 2, 2)  # ops of C/K = 2 channels
  # The stride-2 skip_connect of a reduction cell (2C = 8 channels) reduces C/K = 4 channels.
  reduce = variables["params"]["cell_1"]["edge_0"]["skip_connect"]["reduce"]
  assert reduce["conv_1"]["kernel"].shape == (1, 1, 4, 2)
  logits, _ = jax.jit(
    lambda v: net.apply(v, x, w, train=True, edge_logits=betas, mutable=["batch_stats"])
  )(variables)
  assert logits.shape == (2, 10) and np.all(np.isfinite(logits))


def _per_edge_params(fused):
  """Parameters of per-edge NB201 cells from those of fused cells (same kernels)."""
  out = {}
  for name, sub in fused.items():
    if not name.startswith("stage_"):
      out[name] = sub
      continue
    cell = {}
    for i, j in nb201.EDGES:
      for op in ("nor_conv_1x1", "nor_conv_3x3"):
        kernel = nb201.edge_kernel(sub, op, i, j)
        cell[f"edge_{i}_{j}_{op}"] = {"Conv2D_0": {"kernel": kernel}}
    out[name] = cell
  return out


def test_nb201_per_edge_cells_equal_the_fused_cells():
  """K=1 through the partial-channel cells is plain DARTS; equal betas average each node's edges."""
  x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
  w = {"cell": jax.nn.softmax(jax.random.normal(jax.random.key(1), (6, 5)))}
  kw = dict(channels=4, cells_per_stage=1, scan_cells=False)
  fused = nb201.NB201Supernet(**kw)
  per_edge = nb201.NB201Supernet(edge_normalization=True, **kw)
  variables = init_variables(fused, jax.random.key(2), x, w, train=True)
  mapped = {**variables, "params": _per_edge_params(variables["params"])}
  assert jax.tree.structure(mapped) == jax.tree.structure(
    jax.eval_shape(lambda: per_edge.init(jax.random.key(0), x, w, train=True))
  )

  def run(net, v, w, betas=None):
    return jax.jit(
      lambda v, w: net.apply(v, x, w, train=True, edge_logits=betas, mutable=["batch_stats"])[0]
    )(v, w)

  expected = run(fused, variables, w)
  np.testing.assert_allclose(run(per_edge, mapped, w), expected, rtol=1e-5, atol=1e-5)
  fan_in = jnp.array([1, 2, 2, 3, 3, 3.0])[:, None]
  np.testing.assert_allclose(
    run(per_edge, mapped, w, {"cell": jnp.zeros(6)}),
    run(fused, variables, {"cell": w["cell"] / fan_in}),
    rtol=1e-5,
    atol=1e-5,
  )


def _reference_nb201_cell(params, x, w, edge_w, k):
  """NB201's partial-channel search cell written out edge by edge."""
  c = x.shape[-1] // k
  nodes = [x]
  for i in range(1, 4):
    node = 0.0
    for j in range(i):
      e = nb201.EDGES.index((i, j))
      part = nodes[j][..., :c]
      mixed = w[e, 1] * part + w[e, 4] * ops.avg_pool_3x3(part)
      for o, size in ((2, 1), (3, 3)):
        conv = ops.ReLUConvBN(c, size, 1, size // 2, affine=False, track_running_stats=False)
        p = params[f"edge_{i}_{j}_{NB201_OPS[o]}"]
        mixed = mixed + w[e, o] * conv.apply({"params": p}, part, True)
      merged = ops.channel_shuffle(jnp.concatenate([mixed, nodes[j][..., c:]], -1), k)
      node = node + edge_w[e] * merged
    nodes.append(node)
  return nodes[-1]


def test_nb201_partial_cell_equals_the_edge_by_edge_reference():
  cell = nb201.NB201PartialSearchCell(8, partial_channels=4)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 8))
  w = jax.nn.softmax(jax.random.normal(jax.random.key(1), (6, 5)))
  edge_w = ops.node_softmax(jax.random.normal(jax.random.key(3), (6,)), (1, 2, 3))
  variables = cell.init(jax.random.key(2), x, (w, edge_w))
  assert variables["params"]["edge_3_2_nor_conv_3x3"]["Conv2D_0"]["kernel"].shape == (3, 3, 2, 2)
  got, _ = jax.jit(cell.apply)(variables, x, (w, edge_w))
  expected = _reference_nb201_cell(variables["params"], x, w, edge_w, 4)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
