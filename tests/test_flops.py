"""Parameter counts and multiply-adds, against hand computations and NAS-Bench-201's table."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from nasjax.spaces import flops, ops
from nasjax.spaces.nb201 import network
from nasjax.spaces.nb201.benchmark import NB201Table
from nasjax.spaces.nb201.genotype import NB201Genotype


class _Small(nn.Module):
  """A conv of every kind the DARTS ops use, pools, BN, a residual sum and a classifier."""

  @nn.compact
  def __call__(self, x, train):
    x = ops.Conv2D(8, 3, padding=1, name="stem")(x)  # 16x16x8 from 3 channels
    x = ops.BatchNorm(name="bn")(x, train)
    y = ops.Conv2D(8, 5, stride=2, padding=2, groups=8, name="depthwise")(x)  # 8x8x8
    y = ops.Conv2D(12, 1, name="pointwise")(y)  # 8x8x12
    z = ops.Conv2D(12, 3, stride=2, padding=2, dilation=2, groups=4, name="grouped")(x)
    x = nn.relu(y + z) + ops.avg_pool_3x3(y)  # not counted
    x = nn.Conv(6, (1, 1), use_bias=True, name="biased")(x)  # 8x8x6, with a bias
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(10, name="linear")(x)


def _abstract_init(module, shape, **kwargs):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros((1, *shape)), **kwargs))


def test_multiply_adds_by_hand():
  net = _Small()
  variables = _abstract_init(net, (16, 16, 3), train=False)
  by_hand = (
    16 * 16 * 8 * (3 * 3 * 3)  # stem
    + 8 * 8 * 8 * (5 * 5 * 1)  # depthwise: one input channel per group
    + 8 * 8 * 12 * 8  # pointwise
    + 8 * 8 * 12 * (3 * 3 * 2)  # grouped: 8 / 4 input channels per group
    + 8 * 8 * 6 * 12
    + 8 * 8 * 6  # the 1x1 conv and its bias, one add per output element
    + 6 * 10
    + 10  # the linear layer and its bias
  )
  assert flops.multiply_adds(net, variables, (16, 16, 3), train=False) == by_hand
  # The batch does not matter, nor does the mode (BN and pools are not counted).
  assert flops.multiply_adds(net, variables, (16, 16, 3), train=True, mutable=True) == by_hand


def test_count_params_excludes_named_subtrees():
  variables = _abstract_init(_Small(), (16, 16, 3), train=False)
  params = variables["params"]
  total = 3 * 3 * 3 * 8 + 2 * 8 + 5 * 5 * 8 + 8 * 12 + 3 * 3 * 2 * 12 + 12 * 6 + 6 + 6 * 10 + 10
  assert flops.count_params(params) == total
  assert flops.count_params(params, exclude=("linear", "bn")) == total - 70 - 16
  assert flops.count_params({"auxiliary": params, "net": params}) == total


@pytest.mark.parametrize("scan", [True, False])
def test_nb201_networks_match_the_benchmark_flops(nb201_table_path, scan):
  """The table counts conv and linear multiply-adds plus the linear bias (NB201's convention).

  ``flops_cifar100_M - flops_cifar10_M`` is ``90 * 64 + 90``: 90 more outputs of
  the 64-channel classifier, each with its bias add. Pools and BN are not
  counted (cells with pools cost what their convs cost). A scanned stage
  counts each of its cells.
  """
  table = NB201Table.load(nb201_table_path)
  for index in (0, 1651, 1835, 9930, 11472, 6111, 857):
    record = table.by_index(index)
    genotype = NB201Genotype.from_string(record.arch_str)
    for classes, column in ((10, "flops_cifar10_M"), (100, "flops_cifar100_M")):
      net = network.NB201Network(genotype, num_classes=classes, scan_cells=scan)
      variables = _abstract_init(net, (32, 32, 3), train=False)
      count = flops.multiply_adds(net, variables, (32, 32, 3), train=False)
      assert count == round(record.columns[column] * 1e6), (record.arch_str, classes)
  c10, c100 = (table.by_index(9930).columns[f"flops_{d}_M"] for d in ("cifar10", "cifar100"))
  assert round((c100 - c10) * 1e6) == 90 * 64 + 90
