"""The convolution with a custom kernel-gradient rule equals XLA's, to every order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.spaces import conv


def _reference(x, w, stride, padding, dilation, groups):
  return jax.lax.conv_general_dilated(
    x,
    w,
    (stride, stride),
    ((padding, padding),) * 2,
    rhs_dilation=(dilation, dilation),
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    feature_group_count=groups,
  )


CASES = [  # kernel, stride, padding, dilation, groups, output channels
  (3, 1, 1, 1, 1, 8),
  (1, 1, 0, 1, 1, 8),
  (3, 2, 1, 1, 1, 8),
  (5, 1, 4, 2, 1, 8),
  (3, 1, 2, 2, 4, 8),  # grouped, two outputs per group: always the XLA path
  (3, 1, 1, 1, 4, 4),  # depthwise (sep_conv_3x3): the shifted-views path
  (5, 2, 2, 1, 4, 4),  # depthwise, strided (sep_conv_5x5 in a reduction cell)
  (3, 2, 2, 2, 4, 4),  # depthwise, dilated and strided (dil_conv_3x3)
  (5, 1, 4, 2, 4, 4),  # depthwise, dilated (dil_conv_5x5)
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,groups,c_out", CASES)
def test_derivatives_match_xla(monkeypatch, kernel, stride, padding, dilation, groups, c_out):
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "matmul")  # also on strided / dilated cases
  with jax.enable_x64(True):
    kx, kw, kv = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (2, 9, 9, 4), jnp.float64)
    w = jax.random.normal(kw, (kernel, kernel, 4 // groups, c_out), jnp.float64) * 0.3
    v = jax.random.normal(kv, w.shape, jnp.float64)
    args = (stride, padding, dilation, groups)

    def loss(f):
      return lambda x, w: jnp.sum(jnp.tanh(f(x, w, *args)) ** 2)

    ours, ref = loss(conv.conv2d), loss(_reference)
    checks = {
      "value": lambda f: f(x, w),
      "grad": lambda f: jax.grad(f, (0, 1))(x, w),
      "grad of grad": lambda f: jax.grad(lambda w: jnp.sum(jax.grad(f, 0)(x, w) ** 2))(w),
      "hvp (jvp over grad)": lambda f: jax.jvp(lambda w: jax.grad(f, 1)(x, w), (w,), (v,))[1],
    }
    for name, check in checks.items():
      for a, b in zip(jax.tree.leaves(check(ours)), jax.tree.leaves(check(ref)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)


def test_paths_are_chosen_as_documented(monkeypatch):
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "auto")
  cpu = jax.default_backend() == "cpu"
  assert conv._use_matmul_grad(1, 1, (3, 3, 4, 4)) == cpu
  assert not conv._use_matmul_grad(1, 2, (3, 3, 4, 4))  # strided: XLA is fine
  assert not conv._use_matmul_grad(4, 1, (3, 3, 1, 4))  # grouped
  assert not conv._use_views(4, 4, (3, 3, 1, 4))  # depthwise: opt-in
  assert not conv._use_views(4, 4, (3, 3, 1, 8))  # two outputs per group
  assert not conv._use_views(2, 4, (3, 3, 2, 4))  # grouped, not depthwise
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "matmul")
  assert conv._use_views(4, 4, (3, 3, 1, 4))
  with conv.xla_convolutions():
    assert not conv._use_views(4, 4, (3, 3, 1, 4))
    assert not conv._use_matmul_grad(1, 1, (3, 3, 4, 4))
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "xla")
  assert not conv._use_matmul_grad(1, 1, (3, 3, 4, 4))
  assert not conv._use_views(4, 4, (3, 3, 1, 4))
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "fast")
  with pytest.raises(ValueError, match="NASJAX_CONV_KERNEL_GRAD"):
    conv._use_matmul_grad(1, 1, (3, 3, 4, 4))


def test_input_gradient_convolution_takes_an_hwio_kernel(monkeypatch):
  """The backward pass's convolution gets a standard HWIO kernel (XLA's fast CPU path).

  JAX transposes a convolution by swapping the kernel's feature labels; the
  rule passes the kernel as HWOI so that the transposed convolution's kernel
  is HWIO again (an ``OI`` kernel inside a scanned cell runs XLA's slow loop).
  """
  monkeypatch.setenv(conv.KERNEL_GRAD_ENV, "matmul")  # the rule's path on every backend
  x = jnp.ones((2, 6, 6, 4))
  w = jnp.ones((3, 3, 4, 8))
  jaxpr = jax.make_jaxpr(jax.grad(lambda x: jnp.sum(conv.conv2d(x, w, 1, 1) ** 2)))(x)
  convs = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
  backward = [e for e in convs if e.invars[0].aval.shape[-1] == 8]  # consumes the cotangent
  assert backward, "expected an input-gradient convolution"
  for eqn in backward:
    rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out feature, in feature, spatial...)
    assert rhs_spec[:2] == (3, 2), rhs_spec
