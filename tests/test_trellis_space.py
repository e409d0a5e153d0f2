"""The trellis segmentation space: layout, Viterbi, genotypes, supernet, network, pruning."""

import functools
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import data_dir, to_float64
from PIL import Image
from test_trellis_genotype import G_SAME, G_UP, TINY, tiny_cfg  # the tiny space, two paths

from nasjax.errors import ConfigError
from nasjax.spaces import flops, get_space
from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.trellis import layout as layout
from nasjax.spaces.trellis import space as T
from nasjax.spaces.trellis import space_config
from nasjax.spaces.trellis.genotype import TrellisGenotype


@pytest.fixture(scope="module")
def images():
  """Two real 32x32 CamVid crops (half resolution), ImageNet-normalised NHWC float32."""
  folder = data_dir() / "seg" / "camvid"
  if not folder.is_dir():
    pytest.skip(f"{folder} is missing")
  crops = []
  for name, (top, left) in (("0001TP_006690.png", (60, 40)), ("0001TP_007050.png", (100, 150))):
    image = (
      Image.open(folder / "train" / name)
      .convert("RGB")
      .resize((240, 180), Image.Resampling.BILINEAR)
    )
    crops.append(np.asarray(image)[top : top + 32, left : left + 32] / 255.0)
  mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
  return jnp.asarray((np.stack(crops) - mean) / std, jnp.float32)


def random_variables(module, *args, seed=0, **kwargs):
  """Variables of ``module`` filled with host random numbers (no compile of ``init``)."""
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *args, **kwargs))
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    if path[-1].key == "var":  # running variances must be positive
      return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), jnp.float32)
    fan_in = int(np.prod(leaf.shape[:-1])) if leaf.ndim > 1 else 4
    return jnp.asarray(rng.uniform(-1, 1, leaf.shape) / np.sqrt(fan_in), jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def softmax_weights(cfg, seed=1, scale=1.0):
  rng = np.random.default_rng(seed)
  return {
    k: np.array(jax.nn.softmax(scale * rng.normal(size=s)), np.float32)
    for k, s in T.alpha_shapes(cfg).items()
  }


@functools.cache
def jitted(module, train=True):
  """The module's apply under jit (batch statistics updated and dropped when ``train``)."""
  if train:
    return jax.jit(lambda v, *a: module.apply(v, *a, train=True, mutable=["batch_stats"])[0])
  return jax.jit(lambda v, *a: module.apply(v, *a, train=False))


@pytest.fixture(scope="module")
def supernet(images):
  cfg = tiny_cfg()
  net = T.build_supernet(cfg)
  variables = random_variables(net, images, softmax_weights(cfg), train=True)
  return cfg, net, variables


# -- layout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("genotype", [G_UP, G_SAME])
def test_supernet_under_genotype_weights_is_the_decoded_network(supernet, images, genotype):
  cfg, net, variables = supernet
  weights = T.genotype_weights(genotype, cfg)
  network = T.build_network(genotype, cfg)
  inherited = {k: T.network_params(v, genotype) for k, v in variables.items()}
  shapes = jax.eval_shape(lambda: network.init(jax.random.key(0), images, train=True))
  assert jax.tree.map(jnp.shape, inherited) == jax.tree.map(jnp.shape, shapes)  # exactly its own
  for train in (True, False):
    out = jitted(net, train)(variables, images, weights)
    expected = network.apply(inherited, images, train=train, mutable=["batch_stats"])[0]
    assert out.shape == (2, 32, 32, 5) and out.dtype == jnp.float32
    # float noise only: the programs differ, and BN on 2x2 maps amplifies rounding
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * float(jnp.abs(out).max()))


def test_decoded_network_parameter_count_matches_a_hand_count():
  # G_UP at F=2 (C = 4 at level 1, 8 at level 2), stem 4, ASPP 8, 5 classes; cell BNs have no
  # parameters. Cells: preprocess1 (FactorizedReduce / conv1x1: c_in * C), preprocess0
  # (c_in * C), max_pool (none), sep_conv_5x5 2 * (25 C + C^2), skip (none),
  # dil_conv_5x5 25 C + C^2.
  def cell(c_in, c, s0_in=0):
    return c_in * c + s0_in * c + 2 * (25 * c + c * c) + 25 * c + c * c

  stem = 27 * 4 + 8 + 36 * 4 + 8 + 36 * 8 + 16
  cells = cell(8, 4) + cell(8, 8) + cell(16, 4, s0_in=8)  # layer 2 reads layer 0 as s0
  a, k, c_in = 8, 5, 8
  aspp = (c_in * a + 2 * a) * 2 + 9 * c_in * a + 2 * a + 3 * a * a + 2 * a + a * k + k
  network = T.build_network(G_UP, tiny_cfg())
  shapes = jax.eval_shape(
    lambda: network.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  )
  assert flops.count_params(shapes["params"]) == stem + cells + aspp
  # retraining adds the affine BN parameters of the cells
  affine = T.build_network(G_UP, tiny_cfg(), affine=True, track_running_stats=True)
  shapes = jax.eval_shape(
    lambda: affine.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  )
  bn = 2 * (4 + 2 * 4 + 4) + 2 * (8 + 2 * 8 + 8) + 2 * (4 + 4 + 2 * 4 + 4)
  assert flops.count_params(shapes["params"]) == stem + cells + aspp + bn


def test_heads_of_off_path_nodes_do_not_count(supernet, images):
  cfg, net, variables = supernet
  params = dict(variables["params"])
  changed = {**params, "aspp_0": jax.tree.map(lambda p: 3.0 * p + 1.0, params["aspp_0"])}
  changed = {**variables, "params": changed}
  apply = jitted(net)
  one_hot = T.genotype_weights(G_UP, cfg)  # ends at level 1: head 0 is off the path
  np.testing.assert_array_equal(apply(variables, images, one_hot), apply(changed, images, one_hot))
  relaxed = softmax_weights(cfg)  # every head counts under a relaxation
  assert not np.allclose(apply(variables, images, relaxed), apply(changed, images, relaxed))


def test_gradient_reaches_the_network_weights(images):
  # A smaller supernet (2 layers, 1 block, 3 candidates) in float64, against central differences.
  cfg = tiny_cfg(layers=2, blocks=1, ops=("none", "skip_connect", "sep_conv_3x3"))
  net = T.build_supernet(cfg)
  x = images[:, :16, :16]
  with jax.enable_x64(True):
    variables = to_float64(random_variables(net, x, softmax_weights(cfg), train=True))
    weights = to_float64(softmax_weights(cfg))
    x = jnp.asarray(x, jnp.float64)
    target = jnp.asarray(np.random.default_rng(5).normal(size=(2, 16, 16, 5)))

    @jax.jit
    def loss(w):
      logits, _ = net.apply(variables, x, w, train=True, mutable=["batch_stats"])
      return jnp.mean(logits * target)

    grads = jax.grad(loss)(weights)
    for key in ("network2", "network3", "cell"):
      assert bool(jnp.all(jnp.isfinite(grads[key]))), key
    for key, row in (("network2", 1), ("network3", 0)):
      col = int(jnp.argmax(jnp.abs(grads[key][row])))
      assert float(jnp.abs(grads[key][row, col])) > 1e-6
      bump = jnp.zeros_like(weights[key]).at[row, col].set(1e-6)
      plus, minus = ({**weights, key: weights[key] + d} for d in (bump, -bump))
      numeric = (loss(plus) - loss(minus)) / 2e-6
      np.testing.assert_allclose(grads[key][row, col], numeric, rtol=1e-5)


# -- pruning ------------------------------------------------------------------------------------


def test_threshold_below_every_weight_prunes_nothing(supernet, images):
  cfg, net, variables = supernet
  weights = softmax_weights(cfg)
  fields = T.prune_fields(weights, cfg, 1e-9)
  assert fields == {"pruned_transitions": [], "pruned_ops": []}
  pruned_cfg = tiny_cfg(**fields)
  T.validate(pruned_cfg)
  assert T.build_supernet(pruned_cfg) == net
  kept = T.prune_params(variables, pruned_cfg)
  assert jax.tree.structure(kept) == jax.tree.structure(variables)
  np.testing.assert_array_equal(
    jitted(net)(variables, images, weights),
    jitted(T.build_supernet(pruned_cfg))(kept, images, weights),
  )


def _pruning_weights(cfg):
  w = softmax_weights(cfg, seed=2, scale=0.05)  # every weight near uniform, above 0.1
  w["network2"][0] = [0.95, 0.05]  # stem -> (0, 1) pruned: (0, 1) and (1, 2) die
  w["cell"][0, 1:] = 0.01  # every op of edge 0 pruned (block 0 keeps only its input-1 edge)
  w["cell"][3, 4] = 0.02  # sep_conv_3x3 on edge 3
  return w


def test_pruned_supernet_equals_the_full_one_with_zeroed_weights(supernet, images):
  cfg, net, variables = supernet
  weights = _pruning_weights(cfg)
  fields = T.prune_fields(weights, cfg, 0.1)
  dead_from = [[1, 1, 0], [1, 1, 1], [1, 1, 2], [2, 2, 1], [2, 2, 2]]  # out of (0,1) and (1,2)
  assert fields["pruned_transitions"] == sorted([[0, 0, 1], *dead_from])
  ops = [[0, op] for op in DARTS_OPS[1:]] + [[3, "sep_conv_3x3"]]
  assert fields["pruned_ops"] == sorted(ops)
  pruned_cfg = tiny_cfg(**json.loads(json.dumps(fields)))  # survives a JSON round trip
  T.validate(pruned_cfg)
  pruned = T.build_supernet(pruned_cfg)
  kept = T.prune_params(variables, pruned_cfg)
  assert "cell_0_0to1" not in kept["params"] and "cell_1_1to2" not in kept["params"]
  assert "cell_2_2to1" not in kept["params"] and "edge_0" not in kept["params"]["cell_1_0to0"]
  zeroed = {k: v.copy() for k, v in weights.items()}
  index = layout.transition_index(3, 3)
  for tr in fields["pruned_transitions"]:
    key, row, col = index[tuple(tr)]
    zeroed[key][row, col] = 0.0
  for e, op in fields["pruned_ops"]:
    zeroed["cell"][e, DARTS_OPS.index(op)] = 0.0
  full = jitted(net)(variables, images, zeroed)
  np.testing.assert_allclose(
    jitted(pruned)(kept, images, weights), full, rtol=1e-5, atol=1e-5 * float(jnp.abs(full).max())
  )
  assert flops.count_params(kept["params"]) < flops.count_params(variables["params"])
  macs = [
    flops.multiply_adds(m, v, (32, 32, 3), weights, train=False)
    for m, v in ((pruned, kept), (net, variables))
  ]
  assert 0 < macs[0] < macs[1]


def test_pruning_that_leaves_no_path_is_refused():
  cfg = tiny_cfg()
  weights = softmax_weights(cfg)
  with pytest.raises(ConfigError, match="lower it"):
    T.prune_fields(weights, cfg, 0.99)
  with pytest.raises(ConfigError, match="no path"):
    T.validate(tiny_cfg(pruned_transitions=[[0, 0, 0], [0, 0, 1]]))


# -- config -------------------------------------------------------------------------------------


def test_default_and_runlocal_configs_validate():
  cfg = space_config.default_space_config()
  T.validate(cfg)
  assert dict(cfg) == {**space_config.DEFAULTS}
  cfg.update(space_config.runlocal_space())
  T.validate(cfg)
  space = get_space("trellis")
  assert space.task == "segmentation" and space.op_costs is None and space.beta_shapes(cfg) == {}
  assert space.ops_per_row(cfg)["network3"][0] == ("up", "same", "down")


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("levels", 1, "levels"),
    ("layers", 0, "layers"),
    ("blocks", 2.0, "blocks"),
    ("aspp_rate", True, "aspp_rate"),
    ("ops", ("none",), "ops"),
    ("ops", ("conv_3x3",), "unknown op"),
    ("ops", "sep_conv_3x3", "string"),
    ("track_running_stats", 1, "track_running_stats"),
    ("pruned_transitions", [[0, 0, 2]], "pruned_transitions"),
    ("pruned_transitions", [[1, 0]], "pruned_transitions"),
    ("pruned_ops", [[5, "skip_connect"]], "pruned_ops"),
    ("pruned_ops", [[0, "none"]], "pruned_ops"),
  ],
)
def test_validation_names_the_field(field, value, match):
  with pytest.raises(ConfigError, match=match):
    T.validate(tiny_cfg(**{field: value}))


def test_unknown_field_is_refused():
  cfg = ml_collections.ConfigDict({**TINY, "name": "trellis", "channels": 4})
  with pytest.raises(ConfigError, match="channels"):
    T.validate(cfg)


@pytest.mark.slow
def test_default_size_costs():
  cfg = space_config.default_space_config()
  net = T.build_supernet(cfg)
  variables = T.param_shapes(net, cfg)
  weights = {k: jnp.full(s, 1.0 / s[1]) for k, s in T.alpha_shapes(cfg).items()}
  macs = flops.multiply_adds(net, variables, (1024, 2048, 3), weights, train=False)
  genotype = TrellisGenotype.from_string(
    "path=0,0,1,2,2,2,1,1,1,2,3,3;cell=" + "|".join(["sep_conv_3x3~0,skip_connect~1"] * 5)
  )
  network = T.build_network(genotype, cfg)
  sub = {k: T.network_params(v, genotype) for k, v in variables.items()}
  net_macs = flops.multiply_adds(network, sub, (1024, 2048, 3), train=False)
  assert flops.count_params(variables["params"]) == 23_093_948 and macs == 306_275_471_360
  assert flops.count_params(sub["params"]) == 1_296_579 and net_macs == 33_176_016_896
