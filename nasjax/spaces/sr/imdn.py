"""The IMDN search space: IMDN with a searched op at each conv3x3 of its blocks.

IMDN (Hui et al., "Lightweight Image Super-Resolution with Information
Multi-distillation Network", ACM MM 2019) maps an LR image ``(N, h, w, 3)``
to ``(N, s*h, s*w, 3)``: a 3x3 feature conv, ``num_blocks`` information
multi-distillation blocks (IMDBs) in a chain, a 1x1 conv over all block
outputs concatenated followed by LeakyReLU(0.05), a 3x3 conv plus a long
skip from the features, and an upsampler (a 3x3 conv to ``3*s*s`` channels and
a pixel shuffle in PyTorch's channel order). Every conv has a bias.

An IMDB with ``F`` features and distillation width ``d`` (remaining
``r = F - d``) applies ``c1: F -> F``, LeakyReLU, splits off ``d`` channels,
applies ``c2: r -> F`` and ``c3: r -> F`` likewise, then ``c4: r -> d`` without
activation; the four distilled parts are concatenated (``4d`` channels),
reweighted by contrast-aware channel attention (:class:`~nasjax.spaces.sr.ops.CCALayer`)
and fused by a 1x1 conv ``c5: 4d -> F`` plus the block input.

In the search space the positions ``c1..c4`` are each a choice among the
twelve ops of :mod:`nasjax.spaces.sr.ops`. One alpha row per position,
``{'blocks': (4, O)}``, is shared by all blocks (``share=True``), or each block
has its own, ``(4 * num_blocks, O)`` with row ``4 * b + i`` for position
``c{i+1}`` of block ``b``. Workdirs written before the tensor was renamed
call it ``'imdb'`` (:data:`OLD_ALPHA`); they are read under the new name.
:data:`IMDN_ORIGINAL` (``conv_3x3`` everywhere) is IMDN itself: 694,404 /
703,059 / 715,176 parameters at x2 / x3 / x4.

Parameter paths are the same in :class:`IMDNSupernet` and
:class:`IMDNNetwork` (e.g. ``imdb_0/c1/conv_3x3/conv/kernel``; ``imdb_b`` is
block ``b``, an IMDB, a name kept so saved networks still load): the network
has only the chosen op under each position, so :func:`inherit_variables` is
a selection of the supernet's variables.

Genotype string: ``imdn:`` then the four ops of ``c1..c4`` joined by ``|``;
with per-block ops, one such group per block, joined by ``+``.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.sr import imdn
  >>> net = imdn.IMDNSupernet(scale=2, features=8, num_blocks=1, distill=2)
  >>> w = {'blocks': jnp.full(imdn.alpha_shapes(True, 1)['blocks'], 1 / 12)}
  >>> x = jnp.zeros((1, 6, 6, 3))
  >>> variables = jax.eval_shape(lambda: net.init(jax.random.key(0), x, w, train=True))
  >>> jax.eval_shape(lambda v: net.apply(v, x, w, train=True), variables).shape
  (1, 12, 12, 3)
  >>> from nasjax.spaces.flops import count_params
  >>> imdn_x2 = imdn.IMDNNetwork(imdn.IMDN_ORIGINAL, scale=2)
  >>> shapes = jax.eval_shape(lambda: imdn_x2.init(jax.random.key(0), x, train=False))
  >>> count_params(shapes['params'])
  694404
  >>> str(imdn.IMDN_ORIGINAL)
  'imdn:conv_3x3|conv_3x3|conv_3x3|conv_3x3'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nasjax.errors import ConfigError
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.sr import ops as sr_ops
from nasjax.spaces.sr.ops import SR_OPS, MixedSROp

Array = jax.Array

#: Searched positions per block (c1..c4).
POSITIONS = 4
#: LeakyReLU negative slope of IMDN.
NEGATIVE_SLOPE = 0.05
#: The name of the alpha tensor (one row per searched convolution), and its name before.
ALPHA, OLD_ALPHA = "blocks", "imdb"


@dataclasses.dataclass(frozen=True)
class IMDNGenotype:
  """The ops at positions c1..c4: shared by all blocks (4 ops) or per block (block-major).

  Attributes:
    ops: ``4`` or ``4 * num_blocks`` op names from :data:`nasjax.spaces.sr.ops.SR_OPS`.
  """

  ops: tuple[str, ...]

  space = "imdn"

  def __post_init__(self) -> None:
    if isinstance(self.ops, str):
      raise GenotypeError("IMDNGenotype.ops must be a sequence of op names, not one string")
    ops = tuple(str(op) for op in self.ops)
    object.__setattr__(self, "ops", ops)
    if not ops or len(ops) % POSITIONS:
      raise GenotypeError(
        f"an IMDN genotype needs {POSITIONS} ops per block (c1..c4), got {len(ops)}"
      )
    bad = [op for op in ops if op not in SR_OPS]
    if bad:
      raise GenotypeError(f"unknown IMDN op(s) {bad}; expected ops from {list(SR_OPS)}")

  @property
  def shared(self) -> bool:
    """Whether one group of four ops serves every block."""
    return len(self.ops) == POSITIONS

  def block_ops(self, block: int) -> tuple[str, ...]:
    """The ops of c1..c4 in block ``block``."""
    if self.shared:
      return self.ops
    return self.ops[POSITIONS * block : POSITIONS * (block + 1)]

  @classmethod
  def from_string(cls, arch_str: str) -> IMDNGenotype:
    """Parses ``imdn:op|op|op|op`` (one ``+``-separated group per block when per block)."""
    prefix, sep, body = arch_str.strip().partition(":")
    if not sep or prefix != cls.space or not body:
      raise GenotypeError(f"an IMDN genotype string starts with 'imdn:', got {arch_str!r}")
    ops = []
    for group in body.split("+"):
      items = group.split("|")
      if len(items) != POSITIONS:
        raise GenotypeError(f"each group of {arch_str!r} needs {POSITIONS} '|'-separated ops")
      ops.extend(items)
    return cls(tuple(ops))

  def to_string(self) -> str:
    groups = [self.ops[i : i + POSITIONS] for i in range(0, len(self.ops), POSITIONS)]
    return f"{self.space}:" + "+".join("|".join(g) for g in groups)

  def __str__(self) -> str:
    return self.to_string()

  def to_dict(self) -> dict[str, Any]:
    return {"space": self.space, "ops": list(self.ops), "arch_str": self.to_string()}

  def to_json(self) -> str:
    return json.dumps(self.to_dict())

  @classmethod
  def from_dict(cls, data: Mapping[str, Any]) -> IMDNGenotype:
    if data.get("space", cls.space) != cls.space:
      raise GenotypeError(f"genotype is for space {data.get('space')!r}, not {cls.space!r}")
    if "ops" in data:
      genotype = cls(tuple(data["ops"]))
      if "arch_str" in data and cls.from_string(data["arch_str"]) != genotype:
        raise GenotypeError("genotype JSON has 'ops' and 'arch_str' that disagree")
      return genotype
    if "arch_str" in data:
      return cls.from_string(data["arch_str"])
    raise GenotypeError("IMDN genotype JSON needs an 'ops' or an 'arch_str' field")

  @classmethod
  def from_json(cls, text: str) -> IMDNGenotype:
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f"genotype is not valid JSON: {e}") from None
    return cls.from_dict(data)

  @classmethod
  def recognizes(cls, data: str | dict[str, Any]) -> bool:
    """Whether ``data`` (a string, or a JSON dict without ``space``) is a genotype of this space."""
    text = str(data.get("arch_str", "")) if isinstance(data, dict) else data
    return text.strip().startswith(cls.space)


#: IMDN as published: a 3x3 convolution at every position.
IMDN_ORIGINAL = IMDNGenotype(("conv_3x3",) * POSITIONS)


class IMDBlock(nn.Module):
  """One information multi-distillation block whose positions c1..c4 mix candidate ops.

  Called as ``block(x, weights, train)`` with ``weights`` of shape
  ``(4, O)`` (row ``i`` mixes the ops ``op_names[i]`` of position ``c{i+1}``),
  or ``None`` to apply each position's single op unweighted (the discrete
  network).

  Attributes:
    op_names: the candidate ops of each of the four positions.
    features: the block's input and output channels ``F``.
    distill: the distilled channels ``d`` split off after c1..c3.
    track_running_stats: BN of the ``_bn`` ops keeps running statistics.
    partial_channels: PC-DARTS' K of the mixed ops (1 = off).
  """

  op_names: tuple[tuple[str, ...], ...]
  features: int = 64
  distill: int = 16
  track_running_stats: bool = False
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, weights: Array | None, train: bool) -> Array:
    f, d = self.features, self.distill
    outputs = (f, f, f, d)
    distilled, y = [], x
    for i, c_out in enumerate(outputs):
      row = None if weights is None else weights[i]
      mixed = MixedSROp(
        self.op_names[i],
        c_out,
        self.track_running_stats,
        self.partial_channels,
        name=f"c{i + 1}",
      )
      y = mixed(y, row, train)
      if i < POSITIONS - 1:
        y = nn.leaky_relu(y, NEGATIVE_SLOPE)
        distilled.append(y[..., :d])
        y = y[..., d:]
    distilled.append(y)
    fused = sr_ops.CCALayer(name="cca")(jnp.concatenate(distilled, axis=-1))
    return sr_ops.ConvBias(f, 1, name="c5")(fused) + x


def _check_sizes(features: int, distill: int, num_blocks: int, scale: int) -> None:
  if not 1 <= distill < features:
    raise ConfigError(
      f"IMDN distill ({distill}) must be at least 1 and below features ({features})"
    )
  if num_blocks < 1 or scale < 1:
    raise ConfigError(f"IMDN needs num_blocks >= 1 and scale >= 1, got {num_blocks} and {scale}")


def _imdn(
  net: IMDNSupernet | IMDNNetwork,
  x: Array,
  train: bool,
  block_ops: Sequence[tuple[tuple[str, ...], ...]],
  block_weights: Sequence[Array | None],
  track_running_stats: bool,
) -> Array:
  """The IMDN forward pass of ``net``, called from its compact method (it adds submodules)."""
  scale, features, num_blocks, distill = net.scale, net.features, net.num_blocks, net.distill
  fea = sr_ops.ConvBias(features, 3, name="fea_conv")(x)
  outs, y = [], fea
  for b in range(num_blocks):
    block = IMDBlock(
      block_ops[b],
      features,
      distill,
      track_running_stats,
      getattr(net, "partial_channels", 1),
      name=f"imdb_{b}",
    )
    y = block(y, block_weights[b], train)
    outs.append(y)
  y = sr_ops.ConvBias(features, 1, name="concat_conv")(jnp.concatenate(outs, axis=-1))
  y = nn.leaky_relu(y, NEGATIVE_SLOPE)
  y = sr_ops.ConvBias(features, 3, name="lr_conv")(y) + fea
  y = sr_ops.ConvBias(3 * scale * scale, 3, name="upsampler")(y)
  return sr_ops.pixel_shuffle(y, scale)


class IMDNSupernet(nn.Module):
  """The IMDN supernet, called as ``apply(variables, x, op_weights, train=...)``.

  ``op_weights = {'blocks': (4, O)}`` when ``share_alpha`` else
  ``(4 * num_blocks, O)``, ``O = len(op_names)``. Returns the HR batch (not clipped).

  Attributes:
    scale: the upscaling factor ``s``.
    features: channels ``F`` of the features and blocks.
    num_blocks: number of IMDBs.
    distill: distilled channels ``d`` per split (``F - d`` remain).
    op_names: the candidate ops at every position.
    share_alpha: one alpha row per position shared by all blocks.
    track_running_stats: BN of the ``_bn`` ops keeps running statistics.
    partial_channels: PC-DARTS' K for SAC-DARTS: every mixed op sees
      ``1/K`` of its input channels, the rest bypass it, cut or zero-padded
      to the position's output width (:func:`nasjax.spaces.sr.ops.partial_channel_mix`).
      The positions are single ops, so there is no edge normalisation.
  """

  scale: int
  features: int = 64
  num_blocks: int = 6
  distill: int = 16
  op_names: tuple[str, ...] = SR_OPS
  share_alpha: bool = True
  track_running_stats: bool = False
  partial_channels: int = 1

  @nn.compact
  def __call__(self, x: Array, op_weights: Mapping[str, Array], train: bool) -> Array:
    _check_sizes(self.features, self.distill, self.num_blocks, self.scale)
    names = tuple(self.op_names)
    w = op_weights[ALPHA]
    expected = alpha_shapes(self.share_alpha, self.num_blocks, names)[ALPHA]
    if tuple(w.shape) != expected:
      raise ValueError(f"op_weights[{ALPHA!r}] must have shape {expected}, got {tuple(w.shape)}")
    rows = [
      w if self.share_alpha else w[POSITIONS * b : POSITIONS * (b + 1)]
      for b in range(self.num_blocks)
    ]
    ops = [(names,) * POSITIONS] * self.num_blocks
    return _imdn(self, x, train, ops, rows, self.track_running_stats)


class IMDNNetwork(nn.Module):
  """The discrete network of an :class:`IMDNGenotype`, called as ``apply(variables, x, train=...)``.

  BN of ``_bn`` ops keeps running statistics. With :data:`IMDN_ORIGINAL` it is IMDN.

  Attributes:
    genotype: the ops of every block (shared or per block).
    scale, features, num_blocks, distill: as in :class:`IMDNSupernet`.
  """

  genotype: IMDNGenotype
  scale: int
  features: int = 64
  num_blocks: int = 6
  distill: int = 16

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    _check_sizes(self.features, self.distill, self.num_blocks, self.scale)
    g = self.genotype
    if not g.shared and len(g.ops) != POSITIONS * self.num_blocks:
      raise GenotypeError(
        f"genotype {g} has {len(g.ops) // POSITIONS} blocks but the network has {self.num_blocks}"
      )
    ops = [tuple((op,) for op in g.block_ops(b)) for b in range(self.num_blocks)]
    return _imdn(self, x, train, ops, [None] * self.num_blocks, True)


def alpha_shapes(
  share: bool, num_blocks: int, op_names: Sequence[str] = SR_OPS
) -> dict[str, tuple[int, int]]:
  """``{'blocks': (4, O)}`` with shared alpha, else ``(4 * num_blocks, O)``."""
  rows = POSITIONS if share else POSITIONS * num_blocks
  return {ALPHA: (rows, len(op_names))}


def derive_genotype(
  probs: Mapping[str, Array] | Array, op_names: Sequence[str] = SR_OPS, share: bool = True
) -> IMDNGenotype:
  """The argmax genotype: per row the op of largest weight (logits or probabilities).

  Args:
    probs: ``{'blocks': (E, O)}`` (or the array itself; ``'imdb'``, the old
      name, is read too); ``E = 4`` when shared.
    op_names: the ops of the columns.
    share: whether the rows are shared by all blocks.
  """
  if isinstance(probs, Mapping):
    probs = probs[OLD_ALPHA] if OLD_ALPHA in probs and ALPHA not in probs else probs[ALPHA]
  a = np.asarray(jax.device_get(probs), dtype=np.float64)
  if a.ndim != 2 or a.shape[1] != len(op_names) or a.shape[0] % POSITIONS:
    raise ValueError(f"IMDN alphas must have shape (4k, {len(op_names)}), got {a.shape}")
  if share and a.shape[0] != POSITIONS:
    raise ValueError(f"shared IMDN alphas must have {POSITIONS} rows, got {a.shape[0]}")
  return IMDNGenotype(tuple(op_names[k] for k in np.argmax(a, axis=-1)))


def genotype_weights(
  genotype: IMDNGenotype,
  op_names: Sequence[str] = SR_OPS,
  share: bool = True,
  num_blocks: int | None = None,
) -> dict[str, np.ndarray]:
  """One-hot mixing weights ``{'blocks': (E, O)}`` float32 under which the supernet is ``genotype``.

  A shared genotype fills every block's rows when ``share`` is False (then
  ``num_blocks`` is needed); a per-block genotype needs per-block rows, or
  equal blocks when ``share`` is True.
  """
  names = list(op_names)
  ops = genotype.ops
  if share and not genotype.shared:
    groups = {genotype.block_ops(b) for b in range(len(ops) // POSITIONS)}
    if len(groups) != 1:
      raise GenotypeError(
        f"genotype {genotype} has different blocks; shared alpha needs equal ones"
      )
    ops = ops[:POSITIONS]
  elif not share and genotype.shared:
    if num_blocks is None:
      raise ValueError("per-block weights of a shared genotype need num_blocks")
    ops = ops * num_blocks
  missing = sorted(set(ops) - set(names))
  if missing:
    raise GenotypeError(f"genotype op(s) {missing} are not among the candidates {names}")
  weights = np.zeros((len(ops), len(names)), np.float32)
  weights[np.arange(len(ops)), [names.index(op) for op in ops]] = 1.0
  return {ALPHA: weights}


def op_costs(
  op_names: Sequence[str] = SR_OPS,
  share: bool = True,
  num_blocks: int = 6,
  scale: int = 2,
  features: int = 64,
  distill: int = 16,
) -> dict[str, np.ndarray]:
  """Multiply-adds of every op at every alpha row, for a 1280x720 output.

  Position c1 maps ``F -> F`` channels, c2 and c3 ``F - d -> F``, c4
  ``F - d -> d``, at the LR size :func:`nasjax.spaces.sr.ops.cost_lr_size`;
  kernels only (:func:`nasjax.spaces.sr.ops.op_macs`). With shared alpha a
  row's cost is its position's cost summed over the ``num_blocks`` blocks.

  Returns:
    ``{'blocks': (E, O)}`` float64.
  """
  h, w = sr_ops.cost_lr_size(scale)
  r = features - distill
  channels = ((features, features), (r, features), (r, features), (r, distill))
  one = np.array(
    [[sr_ops.op_macs(op, ci, co, h, w) for op in op_names] for ci, co in channels], np.float64
  )
  return {ALPHA: one * num_blocks if share else np.tile(one, (num_blocks, 1))}


def inherit_variables(
  supernet_variables: Mapping[str, Any],
  network: IMDNNetwork,
  image_shape: tuple[int, int, int] = (8, 8, 3),
) -> dict[str, Any]:
  """Variables for ``network`` selected from a supernet of the same sizes (inherited weights).

  Parameters (and tracked BN statistics) of the chosen ops are copied; BN
  statistics the supernet did not track start at mean 0, variance 1.
  """
  layout = jax.eval_shape(
    lambda: network.init(jax.random.key(0), jnp.zeros((1, *image_shape)), train=False)
  )
  source = {k: flax.traverse_util.flatten_dict(v) for k, v in supernet_variables.items()}

  def fill(path: tuple[Any, ...], leaf: jax.ShapeDtypeStruct) -> Array:
    collection, *keys = (p.key for p in path)
    found = source.get(collection, {}).get(tuple(keys))
    if found is not None:
      return jnp.asarray(found)
    if collection == "batch_stats":
      init = jnp.ones if keys[-1] == "var" else jnp.zeros
      return init(leaf.shape, leaf.dtype)
    raise KeyError(f"supernet has no variable {collection}/{'/'.join(keys)}")

  return jax.tree_util.tree_map_with_path(fill, flax.core.unfreeze(layout))
