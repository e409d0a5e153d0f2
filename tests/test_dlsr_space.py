"""The DLSR search space: shapes, costs, parameter counts, genotypes and the one-hot supernet."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.errors import ConfigError
from nasjax.spaces import flops
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.sr import dlsr, dlsr_encoding
from nasjax.spaces.sr.space import DLSR, default_space_config

# A small candidate set covering every kind of op (dense, separable, dilated, BN, identity).
OPS = ("conv_1x1", "sep_conv_3x3", "dil_conv_5x5", "conv_3x3_bn", "skip_connect")
GENOTYPE = dlsr.DLSRGenotype(("sep_conv_3x3", "conv_3x3_bn", "dil_conv_5x5"), ((2, 1), (1, 3)))


def _random_variables(module, *args, seed=0, **kwargs):
  """Variables of ``module`` filled with host random numbers (no compile of ``init``)."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))
  rng = np.random.default_rng(seed)

  def fill(leaf):
    fan_in = int(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else 4
    return jnp.asarray(rng.uniform(-1, 1, leaf.shape) / np.sqrt(fan_in), jnp.float32)

  return jax.tree.map(fill, shapes)


def _select(tree, like):
  """The sub-tree of ``tree`` with the keys of ``like`` (the network's part of the supernet's)."""
  if isinstance(like, dict):
    return {k: _select(tree[k], v) for k, v in like.items()}
  assert tree.shape == like.shape
  return tree


@pytest.fixture(scope="module")
def lr_batch():
  """Two real 12x12 LR patches: crops of Set5 images, RGB in [0, 1]."""
  folder = data_dir() / "sr" / "Set5"
  crops = []
  for name, (top, left) in (("baby.png", (200, 240)), ("butterfly.png", (100, 60))):
    image = np.asarray(Image.open(folder / name).convert("RGB"))
    crops.append(image[top : top + 12, left : left + 12])
  return jnp.asarray(np.stack(crops).astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def supernet_setup(lr_batch):
  net = dlsr.DLSRSupernet(scale=2, features=8, num_cells=4, op_names=OPS)
  weights = dlsr_encoding.genotype_weights(GENOTYPE, OPS)
  variables = _random_variables(net, lr_batch, weights, train=True)
  apply = jax.jit(lambda v, x, w: net.apply(v, x, w, train=True))
  return net, variables, apply


def test_output_shapes_of_supernet_and_network():
  x = jax.ShapeDtypeStruct((2, 12, 12, 3), jnp.float32)
  genotype = dlsr.DLSRGenotype(("conv_1x1", "sep_conv_3x3", "skip_connect"), ((1, 2),))
  for scale in (2, 3, 4):
    net = dlsr.DLSRSupernet(scale=scale, features=8, num_cells=3)
    w = {k: jnp.full(s, 1.0 / s[1]) for k, s in dlsr.alpha_shapes(3).items()}
    out = jax.eval_shape(lambda n=net, w=w: n.init_with_output(jax.random.key(0), x, w, True)[0])
    assert out.shape == (2, 12 * scale, 12 * scale, 3)
    discrete = dlsr.DLSRNetwork(genotype, scale=scale, features=8)
    out = jax.eval_shape(lambda n=discrete: n.init_with_output(jax.random.key(0), x, False)[0])
    assert out.shape == (2, 12 * scale, 12 * scale, 3)


def test_partial_channels_mix_a_slice_of_the_features():
  x = jnp.zeros((2, 12, 12, 3))
  net = dlsr.DLSRSupernet(scale=2, features=8, num_cells=3, op_names=OPS, partial_channels=4)
  w = {k: jnp.full(s, 1.0 / s[1]) for k, s in dlsr.alpha_shapes(3, OPS).items()}
  out, variables = jax.eval_shape(lambda: net.init_with_output(jax.random.key(0), x, w, True))
  assert out.shape == (2, 24, 24, 3)
  mixed = variables["params"]["cell_1"]["mixed_1"]
  assert mixed["conv_1x1"]["conv"]["kernel"].shape == (1, 1, 2, 2)  # 8 // 4 channels
  bad = dlsr.DLSRSupernet(scale=2, features=8, num_cells=3, op_names=OPS, partial_channels=3)
  with pytest.raises(ConfigError):
    jax.eval_shape(lambda: bad.init(jax.random.key(0), x, w, True))


def test_one_hot_supernet_equals_the_discrete_network(supernet_setup, lr_batch):
  net, variables, apply = supernet_setup
  out = apply(variables, lr_batch, dlsr_encoding.genotype_weights(GENOTYPE, OPS))
  assert out.shape == (2, 24, 24, 3) and bool(jnp.all(jnp.isfinite(out)))
  # BN without running statistics in both, so the chosen conv_3x3_bn matches too.
  discrete = dlsr.DLSRNetwork(GENOTYPE, scale=2, features=8, track_running_stats=False)
  shapes = jax.eval_shape(lambda: discrete.init(jax.random.key(0), lr_batch, train=True))
  inherited = {"params": _select(variables["params"], shapes["params"])}
  expected = jax.jit(lambda v, x: discrete.apply(v, x, train=True))(inherited, lr_batch)
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
  cell = variables["params"]["cell_2"]["mixed_1"]
  assert set(cell) == {"conv_1x1", "sep_conv_3x3", "dil_conv_5x5", "conv_3x3_bn"}
  assert set(inherited["params"]["cell_2"]["mixed_1"]) == {"sep_conv_3x3"}


def test_network_weights_are_renormalised_over_existing_cells(supernet_setup, lr_batch):
  _, variables, apply = supernet_setup
  weights = dlsr_encoding.genotype_weights(GENOTYPE, OPS)
  base = apply(variables, lr_batch, weights)
  # Row 0 is slot 0 of cell 3, which cannot read cell 3 (column 2); scaling a row changes nothing.
  net = weights["network"].copy()
  net[0, 2] = 5.0
  net[2] *= 3.0
  same = apply(variables, lr_batch, {**weights, "network": net})
  np.testing.assert_array_equal(base, same)
  net[1] = 0.0  # an all-zero row: that slot reads zeros
  other = apply(variables, lr_batch, {**weights, "network": net})
  assert bool(jnp.all(jnp.isfinite(other))) and not np.allclose(other, base)


def test_unchosen_ops_get_exactly_zero_gradient(supernet_setup, lr_batch):
  net, variables, _ = supernet_setup
  weights = dlsr_encoding.genotype_weights(GENOTYPE, OPS)
  target = jax.image.resize(lr_batch, (2, 24, 24, 3), "bicubic")

  def loss(params):
    return jnp.mean(jnp.abs(net.apply({"params": params}, lr_batch, weights, train=True) - target))

  grads = jax.jit(jax.grad(loss))(variables["params"])
  for i in range(1, 5):
    for p, chosen in enumerate(GENOTYPE.ops, start=1):
      for op, g in grads[f"cell_{i}"][f"mixed_{p}"].items():
        norm = sum(float(jnp.sum(jnp.abs(leaf))) for leaf in jax.tree.leaves(g))
        assert (norm > 0) == (op == chosen), (i, p, op, norm)


def _hand_param_count(c, num_cells, scale, op_params):
  conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731  (conv with bias)
  d, f = c // 2, c // 4
  esa = conv(1, c, f) + conv(1, f, f) + 4 * conv(3, f, f) + conv(1, f, c)
  cell = 3 * conv(1, c, d) + conv(3, c, d) + conv(1, 4 * d, c) + esa + sum(op_params)
  trunk = conv(3, 3, c) + conv(1, num_cells * c, c) + conv(3, c, c) + conv(3, c, 3 * scale**2)
  return trunk + num_cells * cell + (num_cells - 2) * conv(1, 2 * c, c)


@pytest.mark.parametrize("features,scale", [(48, 2), (48, 4), (8, 3)])
def test_discrete_parameter_count_matches_a_hand_count(features, scale):
  genotype = dlsr.DLSRGenotype(
    ("sep_conv_5x5", "conv_1x1", "dil_conv_3x3_bn"), ((2, 1), (3, 2), (4, 3), (1, 3))
  )
  c = features
  # sep 5x5: two (depthwise 25c + pointwise c^2); conv 1x1: c^2; dil 3x3 + BN: 9c + c^2 + 2c.
  op_params = [2 * (25 * c + c * c), c * c, 9 * c + c * c + 2 * c]
  net = dlsr.DLSRNetwork(genotype, scale=scale, features=features)
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), False))
  assert flops.count_params(shapes["params"]) == _hand_param_count(c, 6, scale, op_params)
  assert [dlsr_encoding.op_params(o, c) for o in genotype.ops] == op_params


def test_default_network_parameter_count():
  # 48 features, 6 cells, x2, sep_conv_3x3 at every position, inputs as in the public retraining.
  genotype = dlsr.DLSRGenotype(("sep_conv_3x3",) * 3, ((2, 1), (3, 2), (4, 3), (1, 3)))
  net = dlsr.DLSRNetwork(genotype, scale=2)
  shapes = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), False))
  # stem 1344; per cell: distill 3*1176 + conv_4 10392 + fuse 4656 + ESA 6600 + 3 * 5472 ops;
  # inputs 4 * 4656; aggregate 13872; lr_conv 20784; upsample 5196.
  cell = 3 * 1176 + 10392 + 4656 + 6600 + 3 * 5472
  assert flops.count_params(shapes["params"]) == 1344 + 6 * cell + 4 * 4656 + 13872 + 20784 + 5196


def test_op_costs_match_hand_formulas():
  c, n = 48, 6
  hand = {
    "conv_1x1": c * c,
    "conv_3x3": 9 * c * c,
    "conv_5x5": 25 * c * c,
    "conv_7x7": 49 * c * c,
    "sep_conv_3x3": 2 * (9 * c + c * c),
    "sep_conv_5x5": 2 * (25 * c + c * c),
    "sep_conv_7x7": 2 * (49 * c + c * c),
    "dil_conv_3x3": 9 * c + c * c,
    "dil_conv_5x5": 25 * c + c * c,
  }
  for scale, (h, w) in ((2, (360, 640)), (3, (240, 426)), (4, (180, 320))):
    costs = dlsr_encoding.op_costs(scale, features=c, num_cells=n)
    assert costs["cell"].dtype == np.float64 and costs["cell"].shape == (3, 9)
    expected = np.array([n * hand[o] * h * w for o in dlsr.DLSR_OPS], np.float64)
    np.testing.assert_array_equal(costs["cell"], np.tile(expected, (3, 1)))
    np.testing.assert_array_equal(costs["network"], np.zeros((8, 5)))
  assert dlsr_encoding.op_costs(2, 8, 3, ("skip_connect", "conv_3x3_bn"))["cell"][0].tolist() == [
    0.0,
    3 * 9 * 64 * 360 * 640,
  ]


@pytest.mark.parametrize("op", dlsr_encoding.KNOWN_OPS)
def test_op_macs_and_params_agree_with_the_traced_op(op):
  module = dlsr.DLSROp(op)
  x = jnp.zeros((1, 6, 7, 8))
  variables = jax.eval_shape(lambda: module.init(jax.random.key(0), x, True))
  assert flops.multiply_adds(module, variables, (6, 7, 8), True) == dlsr_encoding.op_macs(
    op, 8, 6, 7
  )
  assert flops.count_params(variables.get("params", {})) == dlsr_encoding.op_params(op, 8)


def test_alpha_shapes_and_row_names():
  assert dlsr.alpha_shapes() == {"cell": (3, 9), "network": (8, 5)}
  rows = dlsr_encoding.row_op_names(4, OPS)
  assert rows["cell"] == (OPS,) * 3
  assert rows["network"] == (("cell_1", "cell_2", "cell_3"),) * 4
  with pytest.raises(ConfigError):
    dlsr.alpha_shapes(2)


def test_rows_are_named_as_the_cell_steps_and_the_cell_inputs():
  cfg = default_space_config("dlsr", 2)  # six cells
  names = DLSR.edge_labels(cfg)
  shapes = DLSR.alpha_shapes(cfg)
  assert names["cell"].rows == ("step 1 op", "step 2 op", "step 3 op")
  assert names["cell"].title == "DLSR cell (shared by all 6 cells)"
  network = names["network"]
  assert len(network.rows) == shapes["network"][0] == 8 and network.kind == "input"
  assert network.rows[:3] == ("cell 3, input 1", "cell 3, input 2", "cell 4, input 1")
  assert network.grid[-1] == (3, 1)  # cell 6's second input: fourth row, second column


def test_derive_ignores_absent_cells_and_keeps_inputs_distinct():
  probs = {
    "cell": np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.2, 0.6]]),
    "network": np.array(
      [
        [0.1, 0.2, 0.7],  # cell 3 slot 0: column cell_3 does not exist yet -> cell 2
        [0.1, 0.8, 0.1],  # slot 1 prefers cell 2, taken -> cell 1
        [0.2, 0.3, 0.5],  # cell 4 slot 0 -> cell 3
        [0.6, 0.1, 0.3],  # slot 1 -> cell 1
      ]
    ),
  }
  g = dlsr_encoding.derive_genotype(probs, ("conv_1x1", "conv_3x3", "sep_conv_3x3"))
  assert g == dlsr.DLSRGenotype(("conv_3x3", "conv_1x1", "sep_conv_3x3"), ((2, 1), (3, 1)))


def test_genotype_weights_round_trip():
  rng = np.random.default_rng(3)
  for num_cells in (3, 4, 6):
    for _ in range(10):
      ops = tuple(rng.choice(dlsr.DLSR_OPS, 3))
      inputs = tuple(tuple(int(j) for j in rng.choice(i - 1, 2, replace=False) + 1)
                     for i in range(3, num_cells + 1))  # fmt: skip
      g = dlsr.DLSRGenotype(ops, inputs)
      w = dlsr_encoding.genotype_weights(g)
      assert w["cell"].dtype == np.float32 and w["network"].dtype == np.float32
      assert w["cell"].sum(1).tolist() == [1.0] * 3
      assert w["network"].sum(1).tolist() == [1.0] * (2 * (num_cells - 2))
      assert dlsr_encoding.derive_genotype(w) == g
  with pytest.raises(GenotypeError):
    dlsr_encoding.genotype_weights(GENOTYPE)  # conv_3x3_bn is not among the default candidates


def test_genotype_string_dict_json_round_trip():
  g = dlsr.DLSRGenotype(("sep_conv_5x5", "conv_1x1", "sep_conv_3x3"), ((2, 1), (3, 2), (4, 3)))
  text = "ops=sep_conv_5x5,conv_1x1,sep_conv_3x3;inputs=2+1,3+2,4+3"
  assert str(g) == g.to_string() == text and g.num_cells == 5
  assert dlsr.DLSRGenotype.from_string(text) == g
  d = g.to_dict()
  assert d["space"] == "dlsr" and d["inputs"] == [[2, 1], [3, 2], [4, 3]]
  assert dlsr.DLSRGenotype.from_dict(d) == g
  assert dlsr.DLSRGenotype.from_dict({"ops": d["ops"], "inputs": d["inputs"]}) == g
  assert dlsr.DLSRGenotype.from_json(g.to_json()) == g
  assert dlsr.DLSRGenotype.from_string(" " + text + "\n") == g


@pytest.mark.parametrize(
  "build",
  [
    lambda: dlsr.DLSRGenotype(("conv_1x1", "conv_1x1"), ((1, 2),)),
    lambda: dlsr.DLSRGenotype(("conv_1x1", "conv_1x1", "max_pool_3x3"), ((1, 2),)),
    lambda: dlsr.DLSRGenotype(("conv_1x1",) * 3, ((1, 3),)),  # cell 3 cannot read itself
    lambda: dlsr.DLSRGenotype(("conv_1x1",) * 3, ((2, 2),)),  # two different cells
    lambda: dlsr.DLSRGenotype(("conv_1x1",) * 3, ((1, 2), (0, 3))),
    lambda: dlsr.DLSRGenotype(("conv_1x1",) * 3, ()),
    lambda: dlsr.DLSRGenotype(("conv_1x1",) * 3, ((1, "x"),)),
    lambda: dlsr.DLSRGenotype.from_string("ops=conv_1x1,conv_1x1,conv_1x1"),
    lambda: dlsr.DLSRGenotype.from_string("ops=conv_1x1,conv_1x1,conv_1x1;inputs=2-1"),
    lambda: dlsr.DLSRGenotype.from_string("ops=conv_1x1,conv_1x1,conv_1x1;inputs=2+1+3"),
    lambda: dlsr.DLSRGenotype.from_dict({"space": "imdn", "ops": ["conv_1x1"] * 3}),
    lambda: dlsr.DLSRGenotype.from_dict(
      {"arch_str": "ops=conv_1x1,conv_1x1,conv_1x1;inputs=2+1", "ops": ["conv_3x3"] * 3}
    ),
    lambda: dlsr.DLSRGenotype.from_dict({"space": "dlsr"}),
    lambda: dlsr.DLSRGenotype.from_json("{not json"),
  ],
)
def test_malformed_genotypes_raise(build):
  with pytest.raises(GenotypeError):
    build()


def test_bad_network_settings_raise():
  x = jnp.zeros((1, 12, 12, 3))
  w = {k: jnp.zeros(s) for k, s in dlsr.alpha_shapes(3).items()}
  for kwargs in (dict(scale=5), dict(scale=2, features=2), dict(scale=2, op_names=("nope",))):
    net = dlsr.DLSRSupernet(num_cells=3, **{"features": 8, **kwargs})
    with pytest.raises(ConfigError):
      jax.eval_shape(lambda net=net: net.init(jax.random.key(0), x, w, train=True))
  net = dlsr.DLSRSupernet(scale=2, features=8, num_cells=4)
  with pytest.raises(ValueError, match="shapes"):
    jax.eval_shape(lambda: net.init(jax.random.key(0), x, w, train=True))


def test_pixel_shuffle_follows_pytorch_channel_order():
  s, c, h, w = 2, 3, 2, 3
  x = np.arange(h * w * c * s * s, dtype=np.float32).reshape(1, h, w, c * s * s)
  out = np.asarray(dlsr.pixel_shuffle(jnp.asarray(x), s))
  assert out.shape == (1, h * s, w * s, c)
  for y in range(h * s):
    for z in range(w * s):
      for k in range(c):
        assert out[0, y, z, k] == x[0, y // s, z // s, k * s * s + (y % s) * s + z % s]


def test_esa_max_pool_sizes_and_values():
  rng = np.random.default_rng(0)
  small = rng.normal(size=(1, 5, 4, 2)).astype(np.float32)
  out = np.asarray(dlsr.max_pool_7x7_stride_3(jnp.asarray(small)))
  np.testing.assert_array_equal(out, small.max(axis=(1, 2), keepdims=True))
  big = rng.normal(size=(1, 13, 10, 2)).astype(np.float32)
  out = np.asarray(dlsr.max_pool_7x7_stride_3(jnp.asarray(big)))
  assert out.shape == (1, 3, 2, 2)  # floor((n - 7) / 3) + 1, as PyTorch
  np.testing.assert_array_equal(out[0, 2, 1], big[0, 6:13, 3:10].max(axis=(0, 1)))


def test_bilinear_resize_matches_pytorch():
  x = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
  expected = [  # torch.nn.functional.interpolate(x, (4, 4), mode="bilinear", align_corners=False)
    [1.0, 1.25, 1.75, 2.0],
    [1.5, 1.75, 2.25, 2.5],
    [2.5, 2.75, 3.25, 3.5],
    [3.0, 3.25, 3.75, 4.0],
  ]
  np.testing.assert_allclose(dlsr.resize_bilinear(x, 4, 4)[0, :, :, 0], expected, atol=1e-6)
  np.testing.assert_allclose(dlsr.resize_bilinear(x[:, :1, :1], 3, 5), np.ones((1, 3, 5, 1)))


def test_network_multiply_adds_match_a_hand_count():
  genotype = dlsr.DLSRGenotype(("conv_1x1", "sep_conv_3x3", "dil_conv_5x5"), ((2, 1),))
  net = dlsr.DLSRNetwork(genotype, scale=2, features=8)
  variables = jax.eval_shape(lambda: net.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), False))
  p = 16 * 16  # LR pixels; ESA's stride-2 conv gives 7x7, its pool 1x1

  def conv(k, cin, cout, pixels=p):  # kernel multiply-adds plus one add per output for the bias
    return pixels * (k * k * cin * cout + cout)

  ops_ = p * (8 * 8) + p * 2 * (9 * 8 + 8 * 8) + p * (25 * 8 + 8 * 8)
  esa = conv(1, 8, 2) + conv(1, 2, 2) + conv(3, 2, 2, 49) + 3 * conv(3, 2, 2, 1) + conv(1, 2, 8)
  cell = 3 * conv(1, 8, 4) + ops_ + conv(3, 8, 4) + conv(1, 16, 8) + esa
  trunk = conv(3, 3, 8) + conv(1, 16, 8) + conv(1, 24, 8) + conv(3, 8, 8) + conv(3, 8, 12)
  assert flops.multiply_adds(net, variables, (16, 16, 3), train=False) == trunk + 3 * cell
