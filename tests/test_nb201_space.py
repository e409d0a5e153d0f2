"""The NAS-Bench-201 supernet and discrete networks, and the shared ops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import normalized_batch

from nasjax.infra.compilation import init_variables
from nasjax.spaces import ops
from nasjax.spaces.nb201 import network as nb201_network
from nasjax.spaces.nb201 import supernet as nb201
from nasjax.spaces.nb201.benchmark import NB201Table
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype


def _apply(module, variables, *args, train):
  """A jitted forward pass (eager Flax dispatches op by op, which is slow)."""
  mutable = ["batch_stats"] if train else False
  out = jax.jit(lambda v, *a: module.apply(v, *a, train=train, mutable=mutable))(variables, *args)
  return out[0] if train else out


def _param_count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def test_discrete_parameter_counts_equal_the_benchmark(nb201_table_path):
  table = NB201Table.load(nb201_table_path)
  rng = np.random.default_rng(0)
  sample = sorted(set(rng.choice(len(table), 40, replace=False)) | {0, 1651, 1835, 9930, 11472})
  x = jnp.zeros((1, 32, 32, 3))
  for index in sample:
    record = table.by_index(int(index))
    net = nb201_network.NB201Network(NB201Genotype.from_string(record.arch_str))
    shapes = jax.eval_shape(lambda net=net: net.init(jax.random.key(0), x, train=True))
    assert _param_count(shapes["params"]) == round(record.params_M * 1e6), record.arch_str


def test_cifar100_classifier_counts(nb201_table_path):
  record = NB201Table.load(nb201_table_path).by_index(9930)
  net = nb201_network.NB201Network(NB201Genotype.from_string(record.arch_str), num_classes=100)
  shapes = jax.eval_shape(
    lambda: net.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=True)
  )
  assert _param_count(shapes["params"]) == round(record.columns["params_cifar100_M"] * 1e6)


@pytest.mark.parametrize("conv_bias", [False, True], ids=["no_bias", "conv_bias"])
def test_one_hot_supernet_equals_the_discrete_network(cifar_subset, conv_bias):
  """With one-hot weights the supernet computes exactly the genotype's network.

  This pins the edge order (weights row e <-> benchmark edge e) and the
  fan-out parameter layout, via the inherited weights. With cell conv biases
  (AutoDL's search cells) the bias-free network gets them folded into its
  running means: evaluation mode agrees too.
  """
  genotype = NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
  )
  batch = normalized_batch(cifar_subset, 0, 8)
  supernet = nb201.NB201Supernet(
    channels=4, cells_per_stage=2, track_running_stats=True, scan_cells=True, conv_bias=conv_bias
  )
  one_hot = {"cell": jax.nn.one_hot([NB201_OPS.index(op) for op in genotype.edges], 5)}
  variables = init_variables(supernet, jax.random.key(1), batch["image"], one_hot, train=True)
  # A training step's worth of BN statistics, so that eval mode is exercised too.
  _, updated = jax.jit(
    lambda v: supernet.apply(v, batch["image"], one_hot, train=True, mutable=["batch_stats"])
  )(variables)
  variables = {"params": variables["params"], **updated}
  network = nb201_network.NB201Network(genotype, channels=4, cells_per_stage=2, scan_cells=True)
  inherited = nb201_network.inherit_variables(variables, network)
  for train in (True, False):
    expected = _apply(supernet, variables, batch["image"], one_hot, train=train)
    got = _apply(network, inherited, batch["image"], train=train)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  cell = variables["params"]["stage_0"]
  bias = nb201.edge_bias(cell, "nor_conv_3x3", 2, 0)
  assert (bias is not None) == conv_bias
  if conv_bias:  # the fan-out layout: edge 2 <- 0 is the second block of node 0's conv
    fused = cell["from_0_nor_conv_3x3"]["Conv2D_0"]["bias"]
    assert fused.shape == (2, 12)  # (cells, 3 edges x 4 channels)
    np.testing.assert_array_equal(bias, fused[:, 4:8])
    assert float(jnp.max(jnp.abs(bias))) > 0.05  # PyTorch's U(+-1/sqrt(fan_in)) init


def test_a_different_edge_order_would_be_caught(cifar_subset):
  """The equality above fails when the genotype's edges are permuted."""
  genotype = NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
  )
  swapped = NB201Genotype.from_edges(genotype.edges[::-1])
  batch = normalized_batch(cifar_subset, 0, 8)
  supernet = nb201.NB201Supernet(channels=4, cells_per_stage=1, scan_cells=False)
  one_hot = {"cell": jax.nn.one_hot([NB201_OPS.index(op) for op in genotype.edges], 5)}
  variables = init_variables(supernet, jax.random.key(1), batch["image"], one_hot, train=True)
  network = nb201_network.NB201Network(swapped, channels=4, cells_per_stage=1, scan_cells=False)
  inherited = nb201_network.inherit_variables(variables, network)
  expected = _apply(supernet, variables, batch["image"], one_hot, train=True)
  got = _apply(network, inherited, batch["image"], train=True)
  assert not np.allclose(got, expected, atol=1e-3)


def test_scanned_and_unrolled_supernets_agree(cifar_subset):
  batch = normalized_batch(cifar_subset, 8, 8)
  weights = {"cell": jax.nn.softmax(jax.random.normal(jax.random.key(3), (6, 5)))}
  kw = dict(channels=4, cells_per_stage=3, track_running_stats=True)
  unrolled = nb201.NB201Supernet(scan_cells=False, **kw)
  scanned = nb201.NB201Supernet(scan_cells=True, **kw)
  v = init_variables(unrolled, jax.random.key(0), batch["image"], weights, train=True)

  def stack(tree):
    out = {}
    for name, sub in tree.items():
      if name.startswith("stage_") and name.count("_") == 2:
        stage = name.rsplit("_", 1)[0]
        cells = [tree[f"{stage}_{k}"] for k in range(3)]
        out[stage] = jax.tree.map(lambda *xs: jnp.stack(xs), *cells)
      elif not name.startswith("stage_"):
        out[name] = sub
    return out

  v_scan = {k: stack(t) for k, t in v.items()}
  assert jax.tree.structure(v_scan) == jax.tree.structure(
    jax.eval_shape(lambda: scanned.init(jax.random.key(0), batch["image"], weights, train=True))
  )

  def run(net, variables):
    return jax.jit(
      lambda v: net.apply(v, batch["image"], weights, train=True, mutable=["batch_stats"])
    )(variables)

  a, sa = run(unrolled, v)
  b, sb = run(scanned, v_scan)
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
    stack(sa["batch_stats"])["stage_1"]["from_0_nor_conv_3x3"]["BatchNorm_0"]["mean"],
    sb["batch_stats"]["stage_1"]["from_0_nor_conv_3x3"]["BatchNorm_0"]["mean"],
    rtol=1e-5,
    atol=1e-6,
  )


def test_avg_pool_divides_in_the_input_dtype():
  """A float64 pool divides by the exact counts (the count table is not float32)."""
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 3))
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  ones = np.pad(np.ones_like(x), ((0, 0), (1, 1), (1, 1), (0, 0)))
  window = lambda a: sum(a[:, i : i + 5, j : j + 6] for i in range(3) for j in range(3))
  expected = window(padded) / window(ones)
  with jax.enable_x64(True):
    y = ops.avg_pool_3x3(jnp.asarray(x, jnp.float64))
    assert y.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-14, atol=0)
  assert ops.avg_pool_3x3(jnp.asarray(x, jnp.float32)).dtype == jnp.float32


def test_avg_pool_excludes_padding():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  y = ops.avg_pool_3x3(x)
  assert float(y[0, 0, 0, 0]) == pytest.approx((0 + 1 + 4 + 5) / 4)  # corner: 4 cells
  assert float(y[0, 0, 1, 0]) == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)  # edge: 6 cells
  assert float(y[0, 1, 1, 0]) == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))


def test_batch_norm_statistics_follow_pytorch():
  x = jax.random.normal(jax.random.key(0), (4, 3, 3, 2)) * 2.0 + 1.0
  bn = ops.BatchNorm(affine=False, track_running_stats=True)
  v = bn.init(jax.random.key(0), x, train=True)
  y, updated = bn.apply(v, x, train=True, mutable=["batch_stats"])
  xn = np.asarray(x).reshape(-1, 2)
  mean, var = xn.mean(0), xn.var(0)
  np.testing.assert_allclose(
    np.asarray(y).reshape(-1, 2), (xn - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5
  )
  stats = updated["batch_stats"]
  np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-5)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * xn.var(0, ddof=1), rtol=1e-5)
  y_eval = bn.apply(updated, x, train=False)
  np.testing.assert_allclose(
    y_eval, (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-5), rtol=1e-5, atol=1e-5
  )
  untracked = ops.BatchNorm(affine=False, track_running_stats=False)
  assert untracked.init(jax.random.key(0), x, train=True) == {}
  np.testing.assert_allclose(untracked.apply({}, x, train=False), y, rtol=1e-6, atol=1e-6)


def test_supernet_rejects_misshapen_weights():
  net = nb201.NB201Supernet(channels=2, cells_per_stage=1)
  with pytest.raises(ValueError, match=r"\(6, 5\)"):
    net.init(jax.random.key(0), jnp.zeros((2, 8, 8, 3)), {"cell": jnp.ones((6, 4))}, train=True)
