"""Network cost: parameter counts and multiply-adds, computed without compiling.

:func:`multiply_adds` follows the convention of NAS-Bench-201's and DARTS'
tables: it counts the multiply-accumulates of every convolution,
``out_h * out_w * C_out * k * k * C_in / groups``, and of every matrix
product (a dense layer: ``C_in * C_out``), plus one per output element for
a layer's bias; pooling, batch norm, activations and residual sums are not
counted. Counts are per example.

The count reads the network's jaxpr (``jax.make_jaxpr`` with abstract
inputs; nothing is compiled or run): each ``conv_general_dilated`` and
``dot_general`` is costed from its shapes, a bias is an ``add`` of a
per-channel vector onto such an output, and an op inside ``lax.scan`` (e.g.
cells stacked with ``nn.scan``) counts once per iteration. Method
interception (``nn.intercept_methods``) would see a scanned cell once per
trace rather than once per iteration, hence the jaxpr.

Example:
  >>> import jax, jax.numpy as jnp, flax.linen as nn
  >>> from nasjax.spaces import flops
  >>> net = nn.Sequential([nn.Conv(8, (3, 3), use_bias=False), lambda x: x.mean((1, 2)),
  ...                      nn.Dense(10)])
  >>> variables = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  >>> flops.multiply_adds(net, variables, (32, 32, 3)) == 32 * 32 * 8 * 9 * 3 + 8 * 10 + 10
  True
  >>> flops.count_params(variables['params'])
  306
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.extend import core as jex_core

from nasjax.spaces.conv import xla_convolutions

PyTree = Any

_LAYER_PRIMITIVES = ("conv_general_dilated", "dot_general")


def count_params(params: PyTree, exclude: Iterable[str] = ("auxiliary",)) -> int:
  """The number of scalars in ``params``, leaving out named sub-trees.

  Args:
    params: a parameter pytree (arrays or ``jax.ShapeDtypeStruct`` leaves).
    exclude: a leaf is skipped when any key on its path equals one of these
      names (by default the auxiliary head, which DARTS leaves out of the
      reported parameter count).
  """
  excluded = set(exclude)
  total = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    keys = {str(getattr(p, "key", getattr(p, "name", getattr(p, "idx", "")))) for p in path}
    if not keys & excluded:
      total += int(np.prod(np.shape(leaf)))
  return total


def _layer_macs(eqn: Any) -> int:
  out = eqn.outvars[0].aval.shape
  if eqn.primitive.name == "conv_general_dilated":
    rhs = eqn.invars[1].aval.shape
    rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out, in, *spatial)
    per_output = rhs[rhs_spec[1]] * math.prod(rhs[d] for d in rhs_spec[2:])
    return math.prod(out) * per_output
  (lhs_contract, _), _ = eqn.params["dimension_numbers"]
  lhs = eqn.invars[0].aval.shape
  return math.prod(out) * math.prod(lhs[d] for d in lhs_contract)


def _is_bias_add(eqn: Any, layer_outputs: set[Any]) -> bool:
  """An ``add`` of a per-channel vector onto a conv / matmul output."""
  if eqn.primitive.name != "add":
    return False
  a, b = eqn.invars
  out = eqn.outvars[0].aval.shape
  for x, y in ((a, b), (b, a)):
    if isinstance(x, jex_core.Var) and x in layer_outputs:
      shape = tuple(getattr(y.aval, "shape", ()))
      if out and shape and math.prod(shape) == out[-1] and shape[-1] == out[-1]:
        return True
  return False


def _sub_jaxprs(value: Any) -> list[Any]:
  if isinstance(value, jex_core.ClosedJaxpr):
    return [value.jaxpr]
  if isinstance(value, jex_core.Jaxpr):
    return [value]
  if isinstance(value, (tuple, list)):
    return [j for v in value for j in _sub_jaxprs(v)]
  return []


def _jaxpr_macs(jaxpr: Any) -> int:
  total = 0
  layer_outputs: set[Any] = set()
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name in _LAYER_PRIMITIVES:
      total += _layer_macs(eqn)
      layer_outputs.add(eqn.outvars[0])
      continue
    if _is_bias_add(eqn, layer_outputs):
      total += math.prod(eqn.outvars[0].aval.shape)
      continue
    subs = [_jaxpr_macs(j) for v in eqn.params.values() for j in _sub_jaxprs(v)]
    if not subs:
      continue
    if name == "cond":  # one branch runs: count the most expensive
      total += max(subs)
    elif name == "scan":
      total += eqn.params["length"] * sum(subs)
    else:  # calls (jit, custom_jvp/vjp, remat) run their body once; a while body counts once
      total += sum(subs)
  return total


def multiply_adds(
  module: nn.Module,
  variables: PyTree,
  input_shape: Sequence[int],
  *call_args: Any,
  **call_kwargs: Any,
) -> int:
  """Multiply-adds of one forward pass of ``module`` on one example.

  Args:
    module: a Flax module, called as ``module.apply(variables, x, **call_kwargs)``.
    variables: its variables (arrays or ``jax.ShapeDtypeStruct`` leaves, e.g.
      from ``jax.eval_shape(module.init, ...)``).
    input_shape: the shape of one example, e.g. ``(32, 32, 3)``.
    *call_args: further positional arguments of the call after the input
      (a supernet's op weights).
    **call_kwargs: keyword arguments of the call, e.g. ``train=False``.

  Returns:
    The count, per example (see the module docstring for what is counted).
  """
  x = jax.ShapeDtypeStruct((1, *input_shape), np.float32)
  with xla_convolutions():  # count convolutions, whichever way conv2d computes them
    closed = jax.make_jaxpr(lambda v, x: module.apply(v, x, *call_args, **call_kwargs))(
      variables, x
    )
  return int(_jaxpr_macs(closed.jaxpr))
