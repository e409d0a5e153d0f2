"""The DARTS evaluation networks of a genotype (Liu et al., arXiv 1806.09055).

A searched :class:`~nasjax.spaces.darts.genotype.DartsGenotype` is retrained from scratch
in a deeper, wider network built from its two cells:

* :class:`NetworkCIFAR` -- a 3x3 stem to ``3C`` channels, ``layers`` cells
  (reduction cells at ``layers // 3`` and ``2 * layers // 3`` double the
  channels), global average pooling and a linear classifier; the CIFAR
  setting is C=36, 20 cells.
* :class:`NetworkImageNet` -- two stride-2 stems (``224 -> 56 -> 28``), then
  the same cell stack ending at 7x7; the mobile setting is C=48, 14 cells.

A cell maps its two inputs ``(c_{k-2}, c_{k-1})`` through a 1x1
ReLU-conv-BN each (the first is a :class:`~nasjax.spaces.ops.FactorizedReduce`
when the previous cell reduced the resolution); each intermediate node sums
the genotype's two ops of earlier states (ops on the cell inputs stride 2 in
a reduction cell); the output concatenates the genotype's ``concat`` states.
Every batch norm is affine with running statistics.

Both networks take the drop-path probability as an argument,
``apply(variables, x, train=True, drop_path=p, rngs={'dropout': key},
mutable=['batch_stats'])``: ``p`` may be a traced scalar (it grows with the
epoch), so changing it never recompiles. In training every op output that is
not an identity is multiplied by a per-example Bernoulli(1 - p) mask and
divided by 1 - p. An auxiliary classifier reads the output of cell
``2 * layers // 3``; both networks return ``(logits, aux_logits)``, with
``aux_logits`` None when ``train=False`` or ``auxiliary=False``.

Parameters are named ``stem/...`` (on ImageNet ``stem0_conv1``, ``stem0_bn1``,
``stem0_conv2``, ``stem0_bn2``, ``stem1_conv``, ``stem1_bn``),
``cell_{k}/preprocess{0,1}/...``, ``cell_{k}/node{i}_{op}_{j}/...`` (node
``i``'s op on state ``j``; ops without weights have none), ``auxiliary/...``
and ``classifier``.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.darts.genotype import DARTS_V2
  >>> from nasjax.spaces.darts.network import NetworkCIFAR
  >>> net = NetworkCIFAR(DARTS_V2, channels=4, layers=3)
  >>> x = jnp.zeros((2, 32, 32, 3))
  >>> shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), x, train=False))
  >>> sorted(shapes['params'])
  ['auxiliary', 'cell_0', 'cell_1', 'cell_2', 'classifier', 'stem']
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.spaces import ops
from nasjax.spaces.darts.genotype import DartsGenotype

Array = jax.Array


def drop_path(x: Array, rate: Array | float, key: Array) -> Array:
  """Drops whole examples of ``x`` with probability ``rate``, scaling the rest by 1/(1 - rate).

  Args:
    x: a batch (the first axis is the example).
    rate: the drop probability (a traced scalar is fine), in [0, 1).
    key: a JAX random key.
  """
  keep = 1.0 - jnp.asarray(rate, jnp.float32)
  mask = jax.random.bernoulli(key, keep, (x.shape[0],) + (1,) * (x.ndim - 1))
  return (x / keep.astype(x.dtype)) * mask.astype(x.dtype)


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
  return nn.Dense(
    features, kernel_init=ops.torch_kernel_init, bias_init=ops.torch_bias_init(fan_in), name=name
  )


def _avg_pool_valid(x: Array, window: int, stride: int) -> Array:
  """Average pooling without padding (so ``count_include_pad`` does not matter)."""
  return nn.avg_pool(x, (window, window), strides=(stride, stride), padding="VALID")


class DartsCell(nn.Module):
  """One cell of a DARTS evaluation network.

  Attributes:
    genotype: the architecture.
    channels: C of this cell (each node has C channels).
    reduction: a reduction cell (halves the resolution; the genotype's ``reduce`` cell).
    reduction_prev: the previous cell reduced (``c_{k-2}`` has twice the resolution).
  """

  genotype: DartsGenotype
  channels: int
  reduction: bool
  reduction_prev: bool

  @nn.compact
  def __call__(self, s0: Array, s1: Array, train: bool, drop_path_rate: Any) -> Array:
    c = self.channels
    if self.reduction_prev:
      s0 = ops.FactorizedReduce(c, name="preprocess0")(s0, train)
    else:
      s0 = ops.ReLUConvBN(c, 1, name="preprocess0")(s0, train)
    s1 = ops.ReLUConvBN(c, 1, name="preprocess1")(s1, train)
    pairs = self.genotype.reduce if self.reduction else self.genotype.normal
    concat = self.genotype.reduce_concat if self.reduction else self.genotype.normal_concat
    states = [s0, s1]
    for i in range(len(pairs) // 2):
      total = None
      for t, (op, j) in enumerate(pairs[2 * i : 2 * i + 2]):
        stride = 2 if self.reduction and j < 2 else 1
        name = f"node{i}_{op}_{j}"
        if t == 1 and pairs[2 * i] == (op, j):
          name += "_b"
        h = ops.DartsOp(op, c, stride, name=name)(states[j], train)
        if train and not (op == "skip_connect" and stride == 1):
          h = drop_path(h, drop_path_rate, self.make_rng("dropout"))
        total = h if total is None else total + h
      states.append(total)
    return jnp.concatenate([states[k] for k in concat], axis=-1)


class AuxiliaryHead(nn.Module):
  """DARTS' auxiliary classifier.

  ReLU, 5x5 average pooling without padding (stride 3 on CIFAR's 8x8
  features, stride 2 on ImageNet's 7x7 ones -- the output of cell
  ``2 * layers // 3``, a reduction cell, at 224x224), 1x1 conv to 128, BN,
  ReLU, 2x2 conv to 768, BN (``bn_after_conv2``; DARTS' ImageNet head has
  none), ReLU, linear.
  """

  num_classes: int
  pool_stride: int = 3
  bn_after_conv2: bool = True

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    x = _avg_pool_valid(nn.relu(x), 5, self.pool_stride)
    x = ops.Conv2D(128, 1, name="conv1")(x)
    x = nn.relu(ops.BatchNorm(name="bn1")(x, train))
    x = ops.Conv2D(768, 2, name="conv2")(x)
    if self.bn_after_conv2:
      x = ops.BatchNorm(name="bn2")(x, train)
    x = nn.relu(x)
    x = x.reshape(x.shape[0], -1)
    return _dense(self.num_classes, x.shape[-1], "classifier")(x)


def _cells(
  module: nn.Module,
  s0: Array,
  s1: Array,
  train: bool,
  drop_path_rate: Any,
  reduction_prev: bool,
  aux_stride: int,
  aux_bn: bool,
) -> tuple[Array, Array | None]:
  """The cell stack, the auxiliary head (training only) and the classifier."""
  c, layers = module.channels, module.layers
  aux_logits = None
  for k in range(layers):
    reduction = k in (layers // 3, 2 * layers // 3)
    if reduction:
      c *= 2
    cell = DartsCell(module.genotype, c, reduction, reduction_prev, name=f"cell_{k}")
    s0, s1 = s1, cell(s0, s1, train, drop_path_rate)
    reduction_prev = reduction
    if k == 2 * layers // 3 and module.auxiliary:
      head = AuxiliaryHead(module.num_classes, aux_stride, aux_bn, name="auxiliary")
      if train or module.is_initializing():
        aux_logits = head(s1, train)
  x = jnp.mean(s1, axis=(1, 2))
  logits = _dense(module.num_classes, x.shape[-1], "classifier")(x)
  return logits, aux_logits if train else None


class NetworkCIFAR(nn.Module):
  """The DARTS evaluation network for 32x32 images.

  Attributes:
    genotype: the architecture.
    channels: C, the channels of the first cells (36 in DARTS' CIFAR setting).
    layers: the number of cells (20).
    num_classes: classifier outputs.
    auxiliary: build the auxiliary head (after cell ``2 * layers // 3``).
    stem_multiplier: the stem has ``stem_multiplier * C`` channels (3).
  """

  genotype: DartsGenotype
  channels: int = 36
  layers: int = 20
  num_classes: int = 10
  auxiliary: bool = True
  stem_multiplier: int = 3

  @nn.compact
  def __call__(self, x: Array, *, train: bool, drop_path: Any = 0.0) -> tuple[Array, Array | None]:
    s = ops.Stem(self.stem_multiplier * self.channels, name="stem")(x, train)
    return _cells(self, s, s, train, drop_path, False, aux_stride=3, aux_bn=True)


class NetworkImageNet(nn.Module):
  """The DARTS evaluation network for 224x224 images (the mobile setting).

  Attributes:
    genotype: the architecture.
    channels: C (48 in DARTS' mobile setting).
    layers: the number of cells (14).
    num_classes: classifier outputs.
    auxiliary: build the auxiliary head (after cell ``2 * layers // 3``, on 14x14 features).
  """

  genotype: DartsGenotype
  channels: int = 48
  layers: int = 14
  num_classes: int = 1000
  auxiliary: bool = True

  @nn.compact
  def __call__(self, x: Array, *, train: bool, drop_path: Any = 0.0) -> tuple[Array, Array | None]:
    c = self.channels
    s0 = ops.Conv2D(c // 2, 3, stride=2, padding=1, name="stem0_conv1")(x)
    s0 = nn.relu(ops.BatchNorm(name="stem0_bn1")(s0, train))
    s0 = ops.Conv2D(c, 3, stride=2, padding=1, name="stem0_conv2")(s0)
    s0 = ops.BatchNorm(name="stem0_bn2")(s0, train)
    s1 = ops.Conv2D(c, 3, stride=2, padding=1, name="stem1_conv")(nn.relu(s0))
    s1 = ops.BatchNorm(name="stem1_bn")(s1, train)
    return _cells(self, s0, s1, train, drop_path, True, aux_stride=2, aux_bn=False)


def build_network(genotype: DartsGenotype, cfg: Any) -> nn.Module:
  """The evaluation network ``config.network`` describes (``name`` ``'cifar'`` or ``'imagenet'``).

  Args:
    genotype: the architecture.
    cfg: ``config.network`` of a retrain config (``name``, ``channels``,
      ``layers``, ``num_classes``, ``auxiliary``).
  """
  kind = {"cifar": NetworkCIFAR, "imagenet": NetworkImageNet}[cfg.name]
  return kind(
    genotype,
    channels=cfg.channels,
    layers=cfg.layers,
    num_classes=cfg.num_classes,
    auxiliary=cfg.auxiliary,
  )
