"""The NB201 supernet and one DARTS-V1 step against AutoDL's PyTorch code (golden outputs).

``$NASJAX_DATA_DIR/golden/autodl_nb201_darts_v1_C8_N1_trs{0,1}.npz`` hold what
AutoDL-Projects' ``TinyNetworkDarts`` (C=8, N=1, BN without affine
parameters, cell BNs with or without running statistics) computed from its
own initial weights on 32 real CIFAR-10 images: the training-mode forward and
backward pass, the BN buffers after it, the evaluation-mode logits, the same
in float64, and one DARTS-V1 step in AutoDL's order (weights, then alpha) and
in the DARTS paper's order (alpha, then weights). Here the torch weights are
transplanted into nasjax's supernet (OIHW kernels to HWIO, the kernels,
biases and BN buffers of the edges leaving a node concatenated into the
fused fan-out convolutions) and every figure is compared.

Each configuration compiles its programs once (module-scoped fixtures).
"""

from __future__ import annotations

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import data_dir

from nasjax.config.protocols import nb201_protocol
from nasjax.config.search import search_config
from nasjax.core.setup import make_search_setup
from nasjax.core.state import ForwardContext

#: nasjax's NB201 op order; a torch edge's candidate ``k`` is ``OPS[k]``.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: torch ``cells.<t>``: the search cell of stage ``s`` (N=1) and the reduction block before it.
STAGE_CELLS = {0: 0, 2: 1, 4: 2}
REDUCTIONS = {1: 1, 3: 2}


def _golden(trs: int) -> dict[str, np.ndarray]:
  path = data_dir() / "golden" / f"autodl_nb201_darts_v1_C8_N1_trs{trs}.npz"
  if not path.is_file():
    pytest.skip(f"{path} is missing")
  with np.load(path) as d:
    return {k: d[k] for k in d.files}


def _hwio(w: np.ndarray) -> np.ndarray:
  return np.transpose(w, (2, 3, 1, 0))


def transplant(get) -> tuple[dict, dict]:
  """nasjax ``(params, batch_stats)`` from torch arrays ``get(name)`` (None where absent).

  Parameters whose torch array is absent (gradients of buffers, running
  statistics of untracked BNs) are left out of the trees.
  """
  flat_params, flat_stats = {}, {}

  def put(flat, path, value):
    if value is not None:
      flat[tuple(path.split("/"))] = np.asarray(value)

  def kernel(name):
    w = get(name)
    return None if w is None else np.transpose(w, (2, 3, 1, 0))  # OIHW -> HWIO

  def fan_out(arrays):  # the edges leaving a node: one fused conv, a leading cell axis (N=1)
    return None if any(a is None for a in arrays) else np.concatenate(arrays, axis=-1)[None]

  def bn(path, torch):
    put(flat_params, f"{path}/scale", get(f"{torch}.weight"))
    put(flat_params, f"{path}/bias", get(f"{torch}.bias"))
    put(flat_stats, f"{path}/mean", get(f"{torch}.running_mean"))
    put(flat_stats, f"{path}/var", get(f"{torch}.running_var"))

  put(flat_params, "stem/conv/kernel", kernel("stem.0.weight"))
  bn("stem/bn", "stem.1")
  for t, stage in STAGE_CELLS.items():
    for j in range(3):
      for k in (2, 3):
        edges = [f"cells.{t}.edges.{i}<-{j}.{k}.op" for i in range(j + 1, 4)]
        at = f"stage_{stage}/from_{j}_{OPS[k]}"
        put(flat_params, f"{at}/Conv2D_0/kernel", fan_out([kernel(f"{e}.1.weight") for e in edges]))
        put(flat_params, f"{at}/Conv2D_0/bias", fan_out([get(f"{e}.1.bias") for e in edges]))
        for ours, theirs in (("mean", "running_mean"), ("var", "running_var")):
          stats = fan_out([get(f"{e}.2.{theirs}") for e in edges])
          put(flat_stats, f"{at}/BatchNorm_0/{ours}", stats)
  for t, r in REDUCTIONS.items():
    for part in ("conv_a", "conv_b"):
      put(
        flat_params, f"reduce_{r}/{part}/Conv2D_0/kernel", kernel(f"cells.{t}.{part}.op.1.weight")
      )
      bn(f"reduce_{r}/{part}/BatchNorm_0", f"cells.{t}.{part}.op.2")
    put(flat_params, f"reduce_{r}/shortcut/kernel", kernel(f"cells.{t}.downsample.1.weight"))
  bn("head/last_bn", "lastact.0")
  linear = get("classifier.weight")
  put(flat_params, "head/linear/kernel", None if linear is None else linear.T)
  put(flat_params, "head/linear/bias", get("classifier.bias"))
  unflatten = flax.traverse_util.unflatten_dict
  return unflatten(flat_params), unflatten(flat_stats)


def _getter(golden: dict[str, np.ndarray], prefix: str):
  return lambda name: golden.get(f"{prefix}/{name}")


def _cancels(key: tuple[str, ...]) -> bool:
  """A cell conv bias: before a batch-statistics BN its gradient is 0 up to rounding."""
  return bool(key) and key[0].startswith("stage_") and key[-2:] == ("Conv2D_0", "bias")


def _max_errors(got, want) -> tuple[float, float]:
  """Max abs error over the leaves of ``want``, and max of it relative to each leaf's max |want|.

  A cell conv bias's gradient (and its move in a step) is rounding noise on
  both sides: its error is taken relative to the largest magnitude of the
  whole tree instead.
  """
  flat = lambda t: flax.traverse_util.flatten_dict(t) if isinstance(t, dict) else {(): t}
  flat_got, flat_want = flat(jax.device_get(got)), flat(want)
  scale = max(float(np.max(np.abs(w))) for w in flat_want.values())
  worst_abs = worst_rel = 0.0
  for key, w in flat_want.items():
    g = np.asarray(flat_got[key], np.float64)
    w = np.asarray(w, np.float64)
    assert g.shape == w.shape, (key, g.shape, w.shape)
    err = float(np.max(np.abs(g - w)))
    worst_abs = max(worst_abs, err)
    own = scale if _cancels(key) else float(np.max(np.abs(w)))
    worst_rel = max(worst_rel, err / max(own, 1e-30))
  return worst_abs, worst_rel


def _assert_close(got, want, rel: float, what: str) -> None:
  """Every leaf of ``want`` matched to ``rel`` times its own largest magnitude."""
  err_abs, err_rel = _max_errors(got, want)
  assert err_rel <= rel, f"{what}: max abs error {err_abs:.3g}, relative {err_rel:.3g} > {rel}"


def _config(trs: int, step_order: str | None = None):
  """NAS-Bench-201's protocol on the golden network's size (C=8, N=1)."""
  config = nb201_protocol(search_config())
  config.space.update(channels=8, cells_per_stage=1, track_running_stats=bool(trs))
  config.precision = "float32"
  if step_order is not None:
    config.step_order = step_order
  return config


class Golden:
  """One golden file with nasjax's setup and the transplanted initial variables."""

  def __init__(self, trs: int):
    self.trs = trs
    self.d = _golden(trs)
    self.setup = make_search_setup(_config(trs), steps_per_epoch=10)
    self.params, self.stats = transplant(_getter(self.d, "sd0"))
    self.alphas = {"cell": self.d["sd0/arch_parameters"]}
    images, labels = self.d["images_nhwc"], self.d["labels"].astype(np.int32)
    b = int(self.d["B"])
    self.base = {"image": images[:b], "label": labels[:b]}
    self.arch = {"image": images[b:], "label": labels[b:]}

  @functools.cached_property
  def train(self):
    """Loss, logits, BN statistics and gradients (w, alpha) of the training-mode pass, float32."""
    return _train_pass(self.setup, self.params, self.stats, self.alphas, self.base)

  def step(self, step_order: str):
    """nasjax's state and metrics after one search step from the golden initial state."""
    setup = make_search_setup(_config(self.trs, step_order), steps_per_epoch=10)
    assert float(setup.lr_schedule(0)) == pytest.approx(float(self.d["step_lr"]))
    arch = {"alphas": self.alphas, "betas": {}}
    params = jax.tree.map(jnp.asarray, self.params)
    state = setup.init(jax.random.key(0), (32, 32, 3)).replace(
      params=params,
      batch_stats=jax.tree.map(jnp.asarray, self.stats),
      alphas=jax.tree.map(jnp.asarray, self.alphas),
      weight_opt_state=setup.weight_tx.init(params),
      alpha_opt_state=setup.alpha_tx.init(arch),
      alpha_grad=setup.initial_alpha_grad(arch),
    )
    return jax.device_get(jax.jit(setup.step)(state, self.base, self.arch))


def _train_pass(setup, params, stats, alphas, batch):
  def loss(p, a):
    return setup.loss(p, a, batch, ForwardContext(stats))

  (value, (logits, new_stats)), (g_w, g_a) = jax.jit(
    jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)
  )(params, alphas)
  return dict(loss=value, logits=logits, stats=new_stats, grad_w=g_w, grad_a=g_a["cell"])


def _eval_logits(setup, params, stats, alphas, images):
  variables = {"params": params, "batch_stats": stats}
  return jax.jit(lambda v, a, x: setup.model.apply(v, x, a, train=False))(
    variables, setup.relaxation.probs(alphas), images
  )


@pytest.fixture(scope="module", params=[0, 1], ids=["trs0", "trs1"])
def golden(request) -> Golden:
  return Golden(request.param)


def test_the_protocol_is_autodls_darts_v1():
  config = _config(1)
  assert config.step_order == "weights_first"
  assert config.bn_stats_update == "both_steps"
  assert config.optimizer.weights.grad_clip_scope == "weights_and_alpha"
  assert config.space.conv_bias and config.space.track_running_stats
  w = config.optimizer.weights
  assert (w.lr, w.momentum, w.nesterov, w.weight_decay, w.grad_clip) == (0.025, 0.9, True, 5e-4, 5)


def test_transplant_fills_every_variable(golden):
  layout = jax.eval_shape(
    lambda: golden.setup.model.init(
      jax.random.key(0), golden.base["image"], {"cell": golden.alphas["cell"]}, train=True
    )
  )
  for got, want in ((golden.params, layout["params"]), (golden.stats, layout.get("batch_stats"))):
    flat_got = flax.traverse_util.flatten_dict(got)
    flat_want = flax.traverse_util.flatten_dict(flax.core.unfreeze(want or {}))
    assert sorted(flat_got) == sorted(flat_want)
    assert all(flat_got[k].shape == flat_want[k].shape for k in flat_want)


def test_images_are_nasjax_normalisation(golden, cifar_subset):
  from nasjax.tasks.classification.datasets import normalize

  raw = cifar_subset["x_train"][: 2 * int(golden.d["B"])]
  np.testing.assert_array_equal(np.asarray(normalize(raw, "cifar10")), golden.d["images_nhwc"])


def test_train_forward_backward_float32(golden):
  out, d = golden.train, golden.d
  _assert_close(out["logits"], d["f32/train_logits"], 1e-6, "train logits")
  assert float(out["loss"]) == pytest.approx(float(d["f32/train_loss"]), rel=1e-6)
  _assert_close(out["grad_a"], d["f32/grad/arch_parameters"], 5e-6, "dL/dalpha")
  want, _ = transplant(_getter(d, "f32/grad"))
  _assert_close(out["grad_w"], want, 2e-5, "weight gradients")
  cell_bias = [v for k, v in flax.traverse_util.flatten_dict(out["grad_w"]).items() if _cancels(k)]
  assert len(cell_bias) == 18 and max(float(np.max(np.abs(b))) for b in cell_bias) < 1e-6
  _, want_stats = transplant(_getter(d, "f32/after_train"))
  _assert_close(out["stats"], want_stats, 1e-5, "BN running statistics after the forward")


def test_eval_logits_float32(golden):
  d = golden.d
  logits = _eval_logits(
    golden.setup, golden.params, golden.train["stats"], golden.alphas, golden.arch["image"]
  )
  _assert_close(logits, d["f32/eval_logits"], 1e-6, "eval logits")
  # The cell conv biases shift the running means of tracked cell BNs: without them
  # (AutoDL's zero-bias logits) evaluation differs where the cells track statistics.
  gap = np.max(np.abs(d["f32/eval_logits"] - d["f32/eval_logits_zero_cell_bias"]))
  if golden.trs:
    assert gap > 1e-3
  else:
    assert gap < 1e-5


def test_forward_backward_float64(golden):
  """float64 agrees to ~1e-14 (a float32 average-pool count table would leave 1e-8)."""
  d = golden.d
  with jax.enable_x64(True):
    f64 = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), tree)
    params, stats, alphas = f64(golden.params), f64(golden.stats), f64(golden.alphas)
    batch = {"image": f64(golden.base["image"]), "label": golden.base["label"]}
    out = _train_pass(golden.setup, params, stats, alphas, batch)
    assert out["logits"].dtype == jnp.float64
    _assert_close(out["logits"], d["f64/train_logits"], 1e-12, "float64 train logits")
    assert float(out["loss"]) == pytest.approx(float(d["f64/train_loss"]), rel=1e-12)
    _assert_close(out["grad_a"], d["f64/grad/arch_parameters"], 1e-12, "float64 dL/dalpha")
    want, _ = transplant(_getter(d, "f64/grad"))
    _assert_close(out["grad_w"], want, 1e-12, "float64 weight gradients")
    images = f64(golden.arch["image"])
    logits = _eval_logits(golden.setup, params, out["stats"], alphas, images)
    _assert_close(logits, d["f64/eval_logits"], 1e-12, "float64 eval logits")


#: The golden step of each order, and nasjax's ``config.step_order`` for it.
STEPS = {"step_autodl": "weights_first", "step_alpha_first": "alpha_first"}


@pytest.fixture(scope="module")
def stepped(golden):
  """``{golden prefix: (state, metrics)}`` after one step in each order."""
  return {prefix: golden.step(order) for prefix, order in STEPS.items()}


@pytest.mark.parametrize("prefix", sorted(STEPS))
def test_one_darts_v1_step(golden, stepped, prefix):
  d = golden.d
  state, metrics = stepped[prefix]
  params, stats = transplant(_getter(d, prefix))
  # The weights moved by lr * (clipped, decayed, Nesterov) gradient: compare the moves.
  moved = jax.tree.map(np.subtract, state.params, golden.params)
  _assert_close(moved, jax.tree.map(np.subtract, params, golden.params), 1e-4, "weight updates")
  _assert_close(state.params, params, 5e-6, "weights")
  _assert_close(state.batch_stats, stats, 1e-5, "BN running statistics")
  _assert_close(state.alphas["cell"], d[f"{prefix}/arch_parameters"], 5e-6, "alpha")
  moved = state.alphas["cell"] - golden.alphas["cell"]
  want = d[f"{prefix}/arch_parameters"] - golden.alphas["cell"]
  _assert_close(moved, want, 3e-5, "alpha updates")
  alpha_grad = state.alpha_grad["alphas"]["cell"]  # the alpha step's gradient, kept for the clip
  _assert_close(alpha_grad, d[f"{prefix}/info/alpha_grad"], 3e-6, "alpha step gradient")
  info = lambda k: float(d[f"{prefix}/info/{k}"])
  assert float(metrics["train/loss"]) == pytest.approx(info("train_loss"), rel=1e-6)
  assert float(metrics["val/loss"]) == pytest.approx(info("val_loss"), rel=1e-6)
  assert float(metrics["weights/grad_norm"]) == pytest.approx(info("weights_grad_norm"), rel=1e-6)
  assert float(metrics["weights/clip_norm"]) == pytest.approx(info("clip_total_norm"), rel=1e-6)
  got_alpha = float(metrics["alpha/clip_grad_norm"])
  assert got_alpha == pytest.approx(info("clip_alpha_grad_norm"), rel=1e-5)


def test_the_golden_step_tells_the_protocols_apart(golden, stepped):
  """What a wrong order, clip set or BN policy would give does not match the golden step."""
  d = golden.d
  autodl, _ = stepped["step_autodl"]
  paper, paper_metrics = stepped["step_alpha_first"]
  _, autodl_stats = transplant(_getter(d, "step_autodl"))
  # The order: the other order's state misses AutoDL's statistics, weights, alpha, losses.
  assert _max_errors(paper.batch_stats, autodl_stats)[1] > 1e-2
  moved = jax.tree.map(np.subtract, paper.params, golden.params)
  want, _ = transplant(_getter(d, "step_autodl"))
  assert _max_errors(moved, jax.tree.map(np.subtract, want, golden.params))[1] > 1e-2
  assert _max_errors(paper.alphas["cell"], d["step_autodl/arch_parameters"])[1] > 1e-2
  assert float(paper_metrics["val/loss"]) != pytest.approx(
    float(d["step_autodl/info/val_loss"]), rel=1e-4
  )
  assert _max_errors(autodl.params, want)[1] < 5e-6
  # BN statistics updated by the weight step only would be those after one training forward.
  _, after_train = transplant(_getter(d, "f32/after_train"))
  assert _max_errors(after_train, autodl_stats)[1] > 1e-2
  # The clip set: the weights' norm alone is not what PyTorch clipped; in alpha-first order
  # the current step's alpha gradient counts, in AutoDL's order (first step) only the train one.
  for prefix in STEPS:
    clip, weights = (
      float(d[f"{prefix}/info/{k}"]) for k in ("clip_total_norm", "weights_grad_norm")
    )
    assert abs(clip - weights) > 1e-5 * clip  # 10x the tolerance of the norms above
  train_only = float(np.linalg.norm(golden.train["grad_a"]))
  assert train_only == pytest.approx(float(d["step_autodl/info/clip_alpha_grad_norm"]), rel=1e-5)
  assert train_only != pytest.approx(
    float(d["step_alpha_first/info/clip_alpha_grad_norm"]), rel=0.1
  )
