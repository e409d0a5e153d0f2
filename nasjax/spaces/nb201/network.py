"""The discrete NAS-Bench-201 network of a genotype, and weights inherited from a supernet.

:class:`NB201Network` is built exactly like the benchmark's evaluation
network (the macro skeleton of :func:`nasjax.spaces.nb201.supernet.macro`,
affine BN everywhere), so its parameter count equals the table's
``params_*`` columns; :func:`inherit_variables` fills it from a trained
supernet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.spaces.nb201.genotype import NB201Genotype
from nasjax.spaces.nb201.supernet import apply_op, edge_block, macro

Array = jax.Array


class NB201Cell(nn.Module):
  """The cell of one genotype, with affine BN as in the benchmark."""

  genotype: NB201Genotype
  channels: int
  train: bool = True

  @nn.compact
  def __call__(self, x: Array, _: Any = None) -> tuple[Array, None]:
    nodes = [x]
    for i, node in enumerate(self.genotype.nodes, start=1):
      total = jnp.zeros_like(x)
      for op, j in node:
        out = apply_op(op, nodes[j], self.train, self.channels, True, True, f"edge_{i}_{j}_{op}")
        if out is not None:
          total = total + out
      nodes.append(total)
    return nodes[-1], None


class NB201Network(nn.Module):
  """The discrete NAS-Bench-201 network of one genotype."""

  genotype: NB201Genotype
  channels: int = 16
  cells_per_stage: int = 5
  num_classes: int = 10
  scan_cells: bool = True

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    return macro(self, x, train, NB201Cell, None, genotype=self.genotype)


def inherit_variables(
  supernet_variables: Mapping[str, Any],
  network: NB201Network,
  image_shape: tuple[int, ...] = (32, 32, 3),
) -> dict[str, Any]:
  """Variables for ``network`` taken from a trained supernet ("inherited weights").

  Each conv of the genotype's network gets the kernel of its edge and op from
  the supernet (see :func:`edge_kernel`); the stem, reduction blocks and
  classifier are copied. Cell BNs, which have no affine parameters in the
  supernet, get scale 1 and bias 0, so in training mode the network computes
  exactly the supernet with one-hot op weights. Running statistics of cell
  BNs are copied where the supernet tracked them, else left at (0, 1). The
  network's convolutions have no bias (the benchmark's evaluation cells);
  a supernet conv bias ``b`` (``conv_bias``) is folded into the copied
  running mean as ``mean - b``, which computes the same evaluation-mode
  output (the BN that follows has no affine parameters in the supernet),
  and cancels under batch statistics.

  Args:
    supernet_variables: ``{'params': ..., 'batch_stats': ...}`` of an
      :class:`NB201Supernet` with the same channels, cells and ``scan_cells``.
    network: the discrete network to fill.
    image_shape: one example's shape (only used to trace the network's layout).
  """
  dummy = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
  layout = jax.eval_shape(lambda: network.init(jax.random.key(0), dummy, train=True))
  source = {k: flax.traverse_util.flatten_dict(v) for k, v in supernet_variables.items()}

  def fill(path: tuple[str, ...], leaf: jax.ShapeDtypeStruct) -> Array:
    collection, *keys = (p.key for p in path)
    keys = tuple(keys)
    if keys in source.get(collection, {}):
      return jnp.asarray(source[collection][keys])
    module = keys[1] if len(keys) > 1 else ""
    if not module.startswith("edge_"):
      raise KeyError(f"supernet has no variable {collection}/{'/'.join(keys)}")
    _, i, j, op = module.split("_", 3)
    i, j = int(i), int(j)
    src = source.get(collection, {}).get((keys[0], f"from_{j}_{op}") + keys[2:])
    if src is None:  # an affine parameter, or stats the supernet did not track
      return (
        jnp.ones(leaf.shape, leaf.dtype)
        if keys[-1] in ("scale", "var")
        else jnp.zeros(leaf.shape, leaf.dtype)
      )
    value = jnp.asarray(edge_block(src, i, j))
    bias = source["params"].get((keys[0], f"from_{j}_{op}", "Conv2D_0", "bias"))
    if collection == "batch_stats" and keys[-1] == "mean" and bias is not None:
      value = value - jnp.asarray(edge_block(bias, i, j))  # fold the conv bias into the mean
    return value

  return jax.tree_util.tree_map_with_path(fill, flax.core.unfreeze(layout))
