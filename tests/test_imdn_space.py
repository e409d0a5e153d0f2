"""Tests of the IMDN search space and the super-resolution candidate ops."""

from __future__ import annotations

import functools
import math

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.errors import ConfigError
from nasjax.infra.checkpoint import Checkpointer, CheckpointError
from nasjax.infra.compilation import init_variables
from nasjax.spaces import flops
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.saved import load_network, save_network
from nasjax.spaces.sr import imdn
from nasjax.spaces.sr import ops as sr_ops
from nasjax.spaces.sr import space as sr_space
from nasjax.spaces.sr.imdn import IMDN_ORIGINAL, IMDNGenotype, IMDNNetwork, IMDNSupernet
from nasjax.spaces.sr.ops import SR_OPS
from nasjax.spaces.sr.space import IMDN


def _layout(module, *args, **kwargs):
  init = functools.partial(module.init, **kwargs)  # keyword arguments stay static
  return flax.core.unfreeze(jax.eval_shape(init, jax.random.key(0), *args))


def _random_variables(layout, seed=0, scale=0.2):
  """Variables of ``layout``'s shapes with random values (no compiled initialisers)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    if path[0].key == "batch_stats":
      return jnp.ones(leaf.shape) if path[-1].key == "var" else jnp.zeros(leaf.shape)
    return jnp.asarray(rng.normal(0.0, scale, leaf.shape), jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, layout)


def _sub_counts(params):
  return {name: flops.count_params(tree) for name, tree in params.items()}


# --- candidate ops -----------------------------------------------------------------------------


def test_sr_ops_names_and_parse():
  assert len(SR_OPS) == 12 and len(set(SR_OPS)) == 12
  assert SR_OPS[:4] == ("conv_3x3", "conv_3x3_bn", "conv_5x5", "conv_5x5_bn")
  assert {sr_ops.parse_op(op) for op in SR_OPS} == {
    (kind, k, bn) for kind in ("conv", "sep_conv", "dil_conv") for k in (3, 5) for bn in (0, 1)
  }
  with pytest.raises(ConfigError, match="unknown super-resolution op 'conv_7x7'"):
    sr_ops.sr_op("conv_7x7", 4, False)


@pytest.fixture(scope="module")
def mixed_op():
  """All twelve ops at 3 -> 4 channels, initialised once (a PyTorch-style init)."""
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 7, 3)), jnp.float32)
  module = sr_ops.MixedSROp(SR_OPS, 4, track_running_stats=False)
  row = jnp.full((12,), 1 / 12)
  variables = init_variables(module, jax.random.key(0), x, row, train=True)
  return module, variables, x


def test_op_parameter_counts_shapes_and_init(mixed_op):
  module, variables, x = mixed_op
  params = variables["params"]
  assert set(params) == set(SR_OPS)
  for op in SR_OPS:
    assert flops.count_params(params[op]) == sr_ops.op_params(op, 3, 4), op
    y = sr_ops.sr_op(op, 4, False).apply({"params": params[op]}, x, True)
    assert y.shape == (2, 6, 7, 4), op
  # Hand counts: conv 3x3: 9*3*4 + 4; sep 5x5 with BN: 25*3 + 3 + 3*4 + 4 + 2*4.
  assert sr_ops.op_params("conv_3x3", 3, 4) == 112
  assert sr_ops.op_params("sep_conv_5x5_bn", 3, 4) == 102
  assert sr_ops.op_params("dil_conv_3x3", 64, 64) == 9 * 64 + 64 + 64 * 64 + 64
  # PyTorch's default init: kernel and bias within 1/sqrt(fan_in).
  conv = params["conv_5x5"]["conv"]
  assert conv["kernel"].shape == (5, 5, 3, 4)
  bound = 1 / math.sqrt(75)
  assert 0.5 * bound < float(jnp.abs(conv["kernel"]).max()) <= bound
  assert float(jnp.abs(conv["bias"]).max()) <= bound
  depthwise = params["dil_conv_5x5"]["depthwise"]
  assert depthwise["kernel"].shape == (5, 5, 1, 3)
  assert float(jnp.abs(depthwise["bias"]).max()) <= 1 / 5
  assert params["sep_conv_3x3_bn"]["bn"]["scale"].shape == (4,)


def test_op_macs_match_traced_count(mixed_op):
  _, variables, _ = mixed_op
  h, w = 6, 7
  for op in SR_OPS:
    kind, _, _ = sr_ops.parse_op(op)
    traced = flops.multiply_adds(
      sr_ops.sr_op(op, 4, False), {"params": variables["params"][op]}, (h, w, 3), True
    )
    biases = (4 if kind == "conv" else 3 + 4) * h * w  # multiply_adds adds one per bias output
    assert traced == sr_ops.op_macs(op, 3, 4, h, w) + biases, op
  assert sr_ops.op_macs("conv_5x5", 3, 4, h, w) == 25 * 3 * 4 * 42
  assert sr_ops.op_macs("dil_conv_3x3_bn", 3, 4, h, w) == (9 * 3 + 3 * 4) * 42


def test_mixed_op_is_the_weighted_sum_of_ops(mixed_op):
  module, variables, x = mixed_op
  row = jnp.asarray(np.random.default_rng(2).uniform(size=12), jnp.float32)
  mixed = module.apply(variables, x, row, True)
  expected = sum(
    row[i] * sr_ops.sr_op(op, 4, False).apply({"params": variables["params"][op]}, x, True)
    for i, op in enumerate(SR_OPS)
  )
  np.testing.assert_allclose(mixed, expected, rtol=1e-5, atol=1e-5)
  zero = module.apply(variables, x, jnp.zeros(12), True)
  assert zero.shape == (2, 6, 7, 4) and not np.any(np.asarray(zero))
  with pytest.raises(ValueError, match="mixing weights must have shape"):
    module.apply(variables, x, jnp.zeros(11), True)


# --- building blocks ----------------------------------------------------------------------------


def test_pixel_shuffle_is_pytorchs_layout():
  # One pixel, 2 output channels of a 2x2 shuffle: channel c*4 + i*2 + j -> (i, j) of channel c.
  x = jnp.arange(8.0).reshape(1, 1, 1, 8)
  y = sr_ops.pixel_shuffle(x, 2)
  assert y.shape == (1, 2, 2, 2)
  assert y[0, :, :, 0].tolist() == [[0.0, 1.0], [2.0, 3.0]]
  assert y[0, :, :, 1].tolist() == [[4.0, 5.0], [6.0, 7.0]]
  # PyTorch's documented formula, out[n, c, h*s + i, w*s + j] = in[n, c*s*s + i*s + j, h, w].
  s, c = 3, 2
  x = np.random.default_rng(0).normal(size=(2, 3, 4, c * s * s)).astype(np.float32)
  expected = np.zeros((2, 3 * s, 4 * s, c), np.float32)
  for h in range(3):
    for w in range(4):
      for ch in range(c):
        for i in range(s):
          for j in range(s):
            expected[:, h * s + i, w * s + j, ch] = x[:, h, w, ch * s * s + i * s + j]
  np.testing.assert_array_equal(np.asarray(sr_ops.pixel_shuffle(jnp.asarray(x), s)), expected)


def test_cca_matches_numpy():
  x = np.random.default_rng(3).uniform(-1, 2, size=(2, 5, 4, 32)).astype(np.float32)
  mean = x.mean(axis=(1, 2))
  contrast = np.sqrt(((x - mean[:, None, None]) ** 2).mean(axis=(1, 2))) + mean
  got = sr_ops.channel_contrast(jnp.asarray(x))
  assert got.shape == (2, 1, 1, 32)
  np.testing.assert_allclose(np.asarray(got)[:, 0, 0], contrast, rtol=1e-5)

  layer = sr_ops.CCALayer()
  variables = _random_variables(_layout(layer, jnp.asarray(x)), scale=0.5)
  p = variables["params"]
  assert p["squeeze"]["kernel"].shape == (1, 1, 32, 2)  # 32 // 16 hidden channels
  hidden = np.maximum(contrast @ p["squeeze"]["kernel"][0, 0] + p["squeeze"]["bias"], 0)
  gate = 1 / (1 + np.exp(-(hidden @ p["excite"]["kernel"][0, 0] + p["excite"]["bias"])))
  np.testing.assert_allclose(
    layer.apply(variables, jnp.asarray(x)), x * gate[:, None, None], rtol=1e-5, atol=1e-6
  )


# --- the IMDN network ---------------------------------------------------------------------------


@pytest.mark.parametrize(
  "scale,upsampler,total", [(2, 6924, 694404), (3, 15579, 703059), (4, 27696, 715176)]
)
def test_imdn_parameter_counts(scale, upsampler, total):
  net = IMDNNetwork(IMDN_ORIGINAL, scale=scale)
  params = _layout(net, jnp.zeros((1, 8, 8, 3)), train=False)["params"]
  counts = _sub_counts(params)
  assert counts == {
    "fea_conv": 1792,
    **{f"imdb_{b}": 104020 for b in range(6)},
    "concat_conv": 24640,
    "lr_conv": 36928,
    "upsampler": upsampler,
  }
  assert flops.count_params(params) == total
  block = _sub_counts(params["imdb_0"])
  assert block == {"c1": 36928, "c2": 27712, "c3": 27712, "c4": 6928, "cca": 580, "c5": 4160}
  assert params["imdb_0"]["c2"]["conv_3x3"]["conv"]["kernel"].shape == (3, 3, 48, 64)
  assert params["imdb_0"]["c4"]["conv_3x3"]["conv"]["kernel"].shape == (3, 3, 48, 16)


def test_imdn_multiply_adds_at_720p():
  net = IMDNNetwork(IMDN_ORIGINAL, scale=2)
  variables = _layout(net, jnp.zeros((1, 8, 8, 3)), train=False)
  traced = flops.multiply_adds(net, variables, (360, 640, 3), train=False)
  hw = 360 * 640
  block = sum(sr_ops.op_macs("conv_3x3", ci, co, 1, 1) for ci, co in imdn_positions(64, 16))
  block += 64 * 64  # c5 (1x1)
  kernels = (27 * 64 + 6 * block + 6 * 64 * 64 + 9 * 64 * 64 + 9 * 64 * 12) * hw
  assert kernels == 158_765_875_200  # IMDN's reported 158.8G multi-adds at x2
  biases = (64 + 6 * (3 * 64 + 16 + 64) + 64 + 64 + 12) * hw  # one add per biased output
  cca = 6 * (64 * 4 + 4 + 4 * 64 + 64)  # the attention's 1x1 convs act on 1x1 maps
  assert traced == kernels + biases + cca


def imdn_positions(features, distill):
  r = features - distill
  return ((features, features), (r, features), (r, features), (r, distill))


@pytest.fixture(scope="module")
def two_block_supernet():
  """A tiny per-block supernet (F 8, d 2, 2 blocks, x3) with random weights."""
  net = IMDNSupernet(scale=3, features=8, num_blocks=2, distill=2, share_alpha=False)
  x = jnp.asarray(np.random.default_rng(4).uniform(size=(2, 8, 8, 3)), jnp.float32)
  w = {"blocks": jnp.full((8, 12), 1 / 12)}
  variables = _random_variables(_layout(net, x, w, train=True), seed=5)
  apply = jax.jit(lambda v, x, w: net.apply(v, x, w, train=True))
  return net, variables, x, apply


def test_supernet_with_one_hot_weights_is_the_discrete_network(two_block_supernet):
  net, variables, x, apply = two_block_supernet
  assert "batch_stats" not in variables  # search BN keeps no statistics
  genotype = IMDNGenotype(
    ("sep_conv_5x5_bn", "dil_conv_3x3", "conv_5x5", "conv_3x3_bn")
    + ("dil_conv_5x5_bn", "conv_3x3", "sep_conv_3x3", "dil_conv_3x3_bn")
  )
  weights = imdn.genotype_weights(genotype, SR_OPS, share=False)
  assert imdn.derive_genotype(weights, SR_OPS, share=False) == genotype
  supernet_out = apply(variables, x, {"blocks": jnp.asarray(weights["blocks"])})
  assert supernet_out.shape == (2, 24, 24, 3)

  network = IMDNNetwork(genotype, scale=3, features=8, num_blocks=2, distill=2)
  inherited = imdn.inherit_variables(variables, network, (8, 8, 3))
  params = inherited["params"]
  assert set(params["imdb_1"]["c4"]) == {"dil_conv_3x3_bn"}
  expected_params = 27 * 8 + 8 + 8 * 16 + 8 + 9 * 8 * 8 + 8 + 9 * 8 * 27 + 27  # outer convs
  for b in range(2):
    for op, (ci, co) in zip(genotype.block_ops(b), imdn_positions(8, 2), strict=True):
      expected_params += sr_ops.op_params(op, ci, co)
    expected_params += (8 * 1 + 1 + 1 * 8 + 8) + (8 * 8 + 8)  # CCA (hidden 1) and c5
  assert flops.count_params(params) == expected_params
  network_out, _ = network.apply(inherited, x, train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(network_out, supernet_out, rtol=1e-4, atol=1e-5)

  other = apply(variables, x, {"blocks": jnp.full((8, 12), 1 / 12)})
  assert float(jnp.abs(other - supernet_out).max()) > 1e-3


@pytest.fixture(scope="module")
def real_patches():
  """Two 24x24 HR patches of Set5's butterfly and their 2x box-downscaled 12x12 LR."""
  path = data_dir() / "sr" / "Set5" / "butterfly.png"
  hr = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
  hr = np.stack([hr[100:124, 100:124], hr[150:174, 60:84]])
  lr = hr.reshape(2, 12, 2, 12, 2, 3).mean(axis=(2, 4))
  return jnp.asarray(lr), jnp.asarray(hr)


def test_tiny_supernet_forward_backward_on_real_patches(real_patches):
  lr, hr = real_patches
  net = IMDNSupernet(scale=2, features=8, num_blocks=1, distill=2)
  shapes = imdn.alpha_shapes(True, 1)
  assert shapes == {"blocks": (4, 12)}
  variables = _random_variables(_layout(net, lr, {"blocks": jnp.zeros((4, 12))}, train=True))
  genotype = IMDNGenotype(("dil_conv_3x3_bn", "sep_conv_5x5", "conv_3x3", "conv_5x5_bn"))
  one_hot = jnp.asarray(imdn.genotype_weights(genotype, SR_OPS, share=True)["blocks"])

  def loss(params, weights):
    out = net.apply({"params": params}, lr, {"blocks": weights}, train=True)
    return jnp.mean(jnp.abs(out - hr)), out

  (value, out), (g_params, g_weights) = jax.jit(
    jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
  )(variables["params"], one_hot)
  assert out.shape == (2, 24, 24, 3)
  assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(g_weights)))
  assert np.all(np.asarray(g_weights) != 0)  # every candidate's output moves the loss
  for i, chosen in enumerate(genotype.ops):
    for op, grads in g_params["imdb_0"][f"c{i + 1}"].items():
      nonzero = any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads))
      assert nonzero == (op == chosen), (i, op)
  assert np.any(np.asarray(g_params["fea_conv"]["kernel"]) != 0)


def test_supernet_rejects_bad_inputs():
  x = jnp.zeros((1, 6, 6, 3))
  net = IMDNSupernet(scale=2, features=8, num_blocks=2, distill=2)
  with pytest.raises(ValueError, match=r"must have shape \(4, 12\)"):
    _layout(net, x, {"blocks": jnp.zeros((8, 12))}, train=True)
  pc = IMDNSupernet(scale=2, features=8, num_blocks=1, distill=2, partial_channels=4)
  with pytest.raises(ConfigError, match="divisible by config.space.partial_channels"):
    _layout(pc, x, {"blocks": jnp.zeros((4, 12))}, train=True)  # distill 2 is not divisible by 4
  bad = IMDNSupernet(scale=2, features=8, num_blocks=1, distill=8)
  with pytest.raises(ConfigError, match="distill"):
    _layout(bad, x, {"blocks": jnp.zeros((4, 12))}, train=True)
  network = IMDNNetwork(
    IMDNGenotype(("conv_3x3",) * 8), scale=2, features=8, num_blocks=3, distill=2
  )
  with pytest.raises(GenotypeError, match="has 2 blocks but the network has 3"):
    _layout(network, x, train=False)


# --- genotypes, derivation, costs ---------------------------------------------------------------


def test_genotype_string_dict_json_round_trips():
  g = IMDNGenotype(("conv_3x3", "sep_conv_3x3", "dil_conv_5x5_bn", "conv_3x3"))
  assert str(g) == "imdn:conv_3x3|sep_conv_3x3|dil_conv_5x5_bn|conv_3x3"
  assert IMDNGenotype.from_string(str(g)) == g
  assert g.to_dict() == {"space": "imdn", "ops": list(g.ops), "arch_str": str(g)}
  assert IMDNGenotype.from_dict(g.to_dict()) == g
  assert IMDNGenotype.from_json(g.to_json()) == g
  per_block = IMDNGenotype(g.ops + IMDN_ORIGINAL.ops)
  assert str(per_block) == str(g) + "+conv_3x3|conv_3x3|conv_3x3|conv_3x3"
  assert IMDNGenotype.from_string(str(per_block)) == per_block
  assert per_block.block_ops(1) == IMDN_ORIGINAL.ops and not per_block.shared
  assert IMDN_ORIGINAL.ops == ("conv_3x3",) * 4 and IMDN_ORIGINAL.space == "imdn"


def test_genotype_errors():
  with pytest.raises(GenotypeError, match=r"unknown IMDN op\(s\) \['conv_7x7'\]"):
    IMDNGenotype(("conv_3x3", "conv_7x7", "conv_3x3", "conv_3x3"))
  with pytest.raises(GenotypeError, match="4 ops per block"):
    IMDNGenotype(("conv_3x3",) * 5)
  with pytest.raises(GenotypeError, match="starts with 'imdn:'"):
    IMDNGenotype.from_string("dlsr:conv_3x3|conv_3x3|conv_3x3|conv_3x3")
  with pytest.raises(GenotypeError, match="needs 4"):
    IMDNGenotype.from_string("imdn:conv_3x3|conv_3x3")
  with pytest.raises(GenotypeError, match="disagree"):
    IMDNGenotype.from_dict(
      {"space": "imdn", "ops": ["conv_3x3"] * 4, "arch_str": "imdn:" + "|".join(["conv_5x5"] * 4)}
    )
  with pytest.raises(GenotypeError, match="not 'imdn'"):
    IMDNGenotype.from_dict({"space": "nb201", "ops": ["conv_3x3"] * 4})
  with pytest.raises(GenotypeError, match="not valid JSON"):
    IMDNGenotype.from_json("{")


def test_derive_and_weights_round_trip():
  rng = np.random.default_rng(6)
  for share, rows in ((True, 4), (False, 12)):
    probs = {"blocks": rng.uniform(size=(rows, 12))}
    g = imdn.derive_genotype(probs, SR_OPS, share)
    assert g.ops == tuple(SR_OPS[k] for k in probs["blocks"].argmax(axis=1))
    weights = imdn.genotype_weights(g, SR_OPS, share)
    assert weights["blocks"].dtype == np.float32 and weights["blocks"].shape == (rows, 12)
    assert np.all(weights["blocks"].sum(axis=1) == 1)
    assert imdn.derive_genotype(weights, SR_OPS, share) == g
  # A subset of candidates; a shared genotype spread over 3 blocks' rows.
  ops = ("conv_3x3", "sep_conv_3x3", "dil_conv_3x3")
  g = IMDNGenotype(("dil_conv_3x3", "conv_3x3", "conv_3x3", "sep_conv_3x3"))
  tiled = imdn.genotype_weights(g, ops, share=False, num_blocks=3)["blocks"]
  assert tiled.shape == (12, 3) and tiled[:4].argmax(axis=1).tolist() == [2, 0, 0, 1]
  assert imdn.derive_genotype(tiled, ops, share=False) == IMDNGenotype(g.ops * 3)
  with pytest.raises(GenotypeError, match="not among the candidates"):
    imdn.genotype_weights(IMDN_ORIGINAL, ("sep_conv_3x3",), share=True)
  with pytest.raises(GenotypeError, match="different blocks"):
    imdn.genotype_weights(IMDNGenotype(g.ops + IMDN_ORIGINAL.ops), SR_OPS, share=True)
  with pytest.raises(ValueError, match="4 rows"):
    imdn.derive_genotype(np.zeros((8, 12)), SR_OPS, share=True)


def test_op_costs():
  shared = imdn.op_costs(SR_OPS, share=True, num_blocks=6, scale=2)["blocks"]
  assert shared.shape == (4, 12) and shared.dtype == np.float64
  hw = 360 * 640
  col = SR_OPS.index
  assert shared[0, col("conv_3x3")] == 6 * 9 * 64 * 64 * hw
  assert shared[1, col("conv_5x5_bn")] == 6 * 25 * 48 * 64 * hw
  assert shared[3, col("sep_conv_5x5")] == 6 * (25 * 48 + 48 * 16) * hw
  assert shared[2, col("dil_conv_3x3")] == 6 * (9 * 48 + 48 * 64) * hw
  per_block = imdn.op_costs(SR_OPS, share=False, num_blocks=6, scale=3)["blocks"]
  assert per_block.shape == (24, 12)
  assert sr_ops.cost_lr_size(3) == (240, 426)
  assert per_block[4 * 5 + 3, col("conv_3x3")] == 9 * 48 * 16 * 240 * 426
  np.testing.assert_array_equal(per_block[:4], per_block[20:])
  subset = imdn.op_costs(("conv_3x3", "sep_conv_3x3"), True, 2, 4, features=8, distill=2)
  assert subset["blocks"].tolist()[1] == [2 * 9 * 6 * 8 * 180 * 320, 2 * (9 * 6 + 48) * 180 * 320]


def test_partial_channel_mix_cuts_or_pads_the_bypass_by_hand():
  from nasjax.spaces.sr.ops import partial_channel_mix

  def mix(part, features):  # a stand-in op: the first `features` channels of its input, x10
    return 10.0 * jnp.resize(part, part.shape[:-1] + (features,))

  x = jnp.arange(8.0).reshape(1, 1, 1, 8)
  # 8 -> 4 channels, K=2: op on channels 0-3 gives (0, 10); bypass 4-7 cut to (4, 5); shuffled
  assert partial_channel_mix(mix, x, 4, 2)[0, 0, 0].tolist() == [0.0, 4.0, 10.0, 5.0]
  x = jnp.arange(4.0).reshape(1, 1, 1, 4)
  # 4 -> 8 channels, K=2: op on channels 0-1 gives (0, 10, 0, 10); bypass (2, 3) padded to 4
  out = partial_channel_mix(mix, x, 8, 2)[0, 0, 0].tolist()
  assert out == [0.0, 2.0, 10.0, 3.0, 0.0, 0.0, 10.0, 0.0]


def test_partial_channel_supernet_runs_with_quarter_width_ops():
  net = IMDNSupernet(scale=2, features=16, num_blocks=1, distill=4, partial_channels=4)
  x = jnp.zeros((1, 6, 6, 3))
  layout = jax.eval_shape(
    lambda: net.init(jax.random.key(0), x, {"blocks": jnp.full((4, 12), 1 / 12)}, train=True)
  )
  kernel = layout["params"]["imdb_0"]["c2"]["conv_3x3"]["conv"]["kernel"]
  assert kernel.shape == (3, 3, 3, 4)  # 12 input channels / 4 -> 16 / 4
  out = jax.eval_shape(
    lambda v: net.apply(v, x, {"blocks": jnp.full((4, 12), 1 / 12)}, train=True), layout
  )
  assert out.shape == (1, 12, 12, 3)


# --- the alpha tensor's name; workdirs that call it 'imdb' -------------------------------------


def test_the_alpha_tensor_is_blocks_and_its_rows_name_the_convolutions():
  cfg = sr_space.default_space_config("imdn", 2)
  assert IMDN.alpha_shapes(cfg) == {"blocks": (4, 12)}
  names = IMDN.edge_labels(cfg)["blocks"]
  assert names.rows == tuple(f"c{i} (shared by all blocks)" for i in (1, 2, 3, 4))
  assert names.grid == ((0, 0), (0, 1), (0, 2), (0, 3)) and names.kind == "convolution"
  assert names.title == "IMDN block convolutions (shared by all 6 blocks)"
  cfg.share_alpha = False
  names = IMDN.edge_labels(cfg)["blocks"]
  assert len(names.rows) == IMDN.alpha_shapes(cfg)["blocks"][0] == 24
  assert names.rows[4 * 2 + 3] == "block 2 c4" and names.grid[4 * 2 + 3] == (2, 3)


def test_trees_with_the_old_name_imdb_are_read_under_the_new_one():
  w = np.eye(4, 12)
  assert IMDN.renamed_alphas == {imdn.OLD_ALPHA: imdn.ALPHA} == {"imdb": "blocks"}
  renamed = IMDN.current_names({"imdb": w})
  assert list(renamed) == ["blocks"] and renamed["blocks"] is w
  assert IMDN.current_names({"blocks": w})["blocks"] is w
  with pytest.raises(ValueError, match="old and its new name"):
    IMDN.current_names({"imdb": w, "blocks": w})
  assert imdn.derive_genotype({"imdb": w}) == imdn.derive_genotype({"blocks": w})


def test_a_checkpoint_with_imdb_alphas_restores_into_a_blocks_state(tmp_path):
  """A search checkpointed before the rename resumes (and is selected, analysed) after it."""
  alphas = np.arange(48, dtype=np.float32).reshape(4, 12)
  old = {"alphas": {"imdb": alphas}, "opt": {"mu": {"alphas": {"imdb": 2 * alphas}}}}
  saver = Checkpointer(tmp_path / "checkpoints", async_save=False)
  saver.save(8, old, {"step": 8})
  saver.close()
  target = {"alphas": {"blocks": np.zeros((4, 12), np.float32)}}
  target["opt"] = {"mu": {"alphas": {"blocks": np.zeros((4, 12), np.float32)}}}
  reader = Checkpointer(tmp_path / "checkpoints", async_save=False)
  try:
    state, meta = reader.restore(8, target, IMDN.renamed_alphas)
    assert meta == {"step": 8}
    assert np.array_equal(state["alphas"]["blocks"], alphas)
    assert np.array_equal(state["opt"]["mu"]["alphas"]["blocks"], 2 * alphas)
    with pytest.raises(CheckpointError, match="does not fit"):
      reader.restore(8, target)  # without the space's renames it does not fit
  finally:
    reader.close()


def test_a_saved_network_with_imdb_weights_loads(tmp_path):
  cfg = sr_space.default_space_config("imdn", 2)
  cfg.update(features=8, num_blocks=1, distill=2)
  x = jnp.zeros((1, 6, 6, 3))
  w = jnp.full((4, 12), 1 / 12)
  layout = _layout(IMDN.build_supernet(cfg), x, {"blocks": w}, train=True)
  variables = _random_variables(layout)
  path = save_network(tmp_path / "network", cfg, variables["params"], {}, {"imdb": w}, {})
  net = load_network(path)
  assert list(net.op_weights) == ["blocks"]
  assert net(x).shape == (1, 12, 12, 3)
