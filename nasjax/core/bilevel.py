"""The bilevel search step: the one place that updates alpha and the weights.

State is an explicit pytree, :class:`SearchState`. Weights and alpha are two
disjoint pytrees with two optax optimisers, so the weight optimiser cannot
touch alpha (and vice versa) by construction. One search step is, with
``config.step_order='alpha_first'`` (the DARTS paper and its code),

1. the alpha update on a validation batch (hypergradient of the configured
   mode, plus the gradient of the enabled regularisers), then
2. the weight update on a training batch, with the *new* alpha;

with ``'weights_first'`` (AutoDL's DARTS-V1, the NAS-Bench-201 DARTS code)
the weight update comes first and the alpha update sees the *new* weights
(and, for a second-order hypergradient, the momentum buffer after that
update). :func:`make_search_step` returns the step jitted, with the
state donated; randomness is ``fold_in(state.rng, state.step)``: it draws the
stochastic relaxations' samples (:mod:`nasjax.core.relax`) and feeds the
supernet's ``'noise'`` rng stream.

Where the space normalises edges (PC-DARTS; ``config.space.edge_normalization``)
the state also carries raw edge logits ``betas``. They are architecture
parameters like alpha: the alpha optimiser updates both (one optax state over
``{'alphas': ..., 'betas': ...}``, :attr:`SearchState.arch_params`) with the
same hypergradient, but the regularisers see alpha only. During the first
``config.optimizer.alpha.warmup_epochs`` epochs the whole alpha/beta update is
skipped (``jax.lax.cond``; PC-DARTS' warm-up) and only the weights train.

The optimisers are those of :mod:`nasjax.core.optimizers` (DESIGN.md §3): SGD
with momentum, coupled weight decay, clipping and a per-epoch cosine learning
rate for the weights; Adam with a coupled L2 term for alpha.

Batch-norm running statistics (where a layer tracks them) are updated by the
weight step only (``config.bn_stats_update='weight_step'``), i.e. from the
weight half of the data, or by the forwards of both updates in the order
they run (``'both_steps'``, AutoDL's code, where every training-mode forward
of the network updates them). The alpha update's forward is then: first
order, the validation forward at the current weights (exactly AutoDL's
DARTS-V1); second order, the forward on the training batch at the current
weights that the unrolled step differentiates (AutoDL's DARTS-V2 runs its
validation forward at ``w'`` on a copy of the network, so only this one
updates the network's statistics; its finite-difference form also runs two
forwards at ``w +- eps v``, which nasjax's ``second_order_fd`` does not
count: there the statistics differ from AutoDL's). A skipped alpha update
(warm-up, frozen alpha) runs no forward that updates them.

Gradient clipping of the weights (``config.optimizer.weights.grad_clip``)
clips the norm of the weight gradients (``grad_clip_scope='weights'``, DARTS'
code) or, as PyTorch's ``clip_grad_norm_(network.parameters())`` in AutoDL's
code, where alpha is a parameter of the network, a norm that includes
alpha's ``.grad`` at that point (``'weights_and_alpha'``): the gradient of
the training loss w.r.t. alpha (and betas) plus what the alpha update left
there, which ``w_optimizer.zero_grad()`` does not clear: the current step's
alpha gradient (hypergradient plus regulariser gradient) in alpha-first
order, the previous step's in weights-first order (zero at the first step
and after a skipped update). The state carries that gradient
(:attr:`SearchState.alpha_grad`). With frozen alpha (no alpha gradient at
all, as a parameter without ``requires_grad``) only the weights count.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.core import bilevel
  >>> from nasjax.config import search as cfg
  >>> config = cfg.search_config()
  >>> config.space.channels, config.space.cells_per_stage = 4, 1
  >>> setup = bilevel.make_search_setup(config, steps_per_epoch=10)
  >>> state = setup.init(jax.random.key(0), (32, 32, 3))
  >>> batch = {'image': jnp.zeros((8, 32, 32, 3)), 'label': jnp.zeros((8,), jnp.int32)}
  >>> state, metrics = jax.jit(setup.step)(state, batch, batch)
  >>> int(state.step), sorted(metrics)[:3]
  (1, ['alpha/entropy', 'alpha/grad_norm', 'lr'])
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from nasjax.config.search import validate_search_config
from nasjax.core import hypergradient as hg
from nasjax.core import projection as projection_lib
from nasjax.core.optimizers import (
  CLIP_EXTRA_ARG,
  alpha_optimizer,
  clip_norm,
  epoch_cosine_schedule,
  momentum_buffer,
  weight_optimizer,
)
from nasjax.core.regularizers import Regularizer, entropy, make_regularizer
from nasjax.core.relax import Relaxation, make_relaxation
from nasjax.infra.compilation import init_variables
from nasjax.spaces.base import SearchSpace
from nasjax.spaces.registry import get_space
from nasjax.tasks.base import Task
from nasjax.tasks.registry import get_task

Array = jax.Array
PyTree = Any
Batch = dict[str, Array]
Metrics = dict[str, Array]


@flax.struct.dataclass
class SearchState:
  """Everything a search carries from one step to the next.

  Attributes:
    step: the number of completed search steps (int32 scalar).
    params: supernet weights ``w``.
    batch_stats: BN running statistics (may be empty).
    alphas: architecture logits, ``{name: (edges, ops)}``.
    betas: raw edge-normalisation logits, ``{name: (edges,)}``; ``{}`` when
      the space config turns edge normalisation off.
    weight_opt_state: the weight optimiser's state (momentum buffer, ...).
    alpha_opt_state: the alpha optimiser's state (Adam moments, ...) over
      :attr:`arch_params`, i.e. alpha and betas together.
    rng: raw ``uint32`` key data; step ``t`` uses ``fold_in(rng, t)``.
    projection: decided and pruned edges (:mod:`nasjax.core.projection`), applied
      to the mixing weights in every forward pass; ``{}`` in an ordinary search.
    alpha_grad: the last alpha update's gradient, ``{'alphas': ..., 'betas':
      ...}`` like :attr:`arch_params` (zeros before the first update), which
      the weight update's gradient clip counts with
      ``grad_clip_scope='weights_and_alpha'``; ``{}`` otherwise.
  """

  step: Array
  params: PyTree
  batch_stats: PyTree
  alphas: PyTree
  betas: PyTree
  weight_opt_state: optax.OptState
  alpha_opt_state: optax.OptState
  rng: Array
  projection: PyTree = dataclasses.field(default_factory=dict)
  alpha_grad: PyTree = dataclasses.field(default_factory=dict)

  @property
  def arch_params(self) -> dict[str, PyTree]:
    """``{'alphas': alphas, 'betas': betas}``: what the alpha optimiser updates."""
    return {"alphas": self.alphas, "betas": self.betas}


@dataclasses.dataclass(frozen=True)
class SearchSetup:
  """The pure functions of one search, built from its config.

  Build it with :func:`make_search_setup`. Its methods are pure functions of
  their arguments (jit them, vmap them over seeds); the dataclass holds only
  static structure: the model, the relaxation, the regularisers, the two
  optimisers and the learning-rate schedule.
  """

  config: ml_collections.ConfigDict
  space: SearchSpace
  model: nn.Module
  relaxation: Relaxation
  regularizer: Regularizer
  weight_tx: optax.GradientTransformation
  alpha_tx: optax.GradientTransformation
  lr_schedule: optax.Schedule
  hypergradient: Callable[..., Any]
  steps_per_epoch: int
  compute_dtype: Any = None

  def measurement(self) -> SearchSetup:
    """This setup in float32, for measurements (Hessian, gaps) under mixed precision."""
    return dataclasses.replace(self, compute_dtype=None) if self.compute_dtype else self

  # -- the protocol of a step ----------------------------------------------

  @property
  def weights_first(self) -> bool:
    """Whether the weight update runs before the alpha update (``config.step_order``)."""
    return self.config.get("step_order", "alpha_first") == "weights_first"

  @property
  def alpha_step_updates_bn(self) -> bool:
    """Whether the alpha update's forward updates BN statistics (``config.bn_stats_update``)."""
    return self.config.get("bn_stats_update", "weight_step") == "both_steps"

  @property
  def clip_with_alpha(self) -> bool:
    """Whether the weight clip's norm counts alpha's gradient (see the module docstring)."""
    w = self.config.optimizer.weights
    return (
      w.grad_clip > 0
      and w.get("grad_clip_scope", "weights") == "weights_and_alpha"
      and not self.config.optimizer.alpha.get("frozen", False)
    )

  def initial_alpha_grad(self, arch_params: PyTree) -> PyTree:
    """:attr:`SearchState.alpha_grad` before the first update: zeros, or ``{}`` when unused."""
    return jax.tree.map(jnp.zeros_like, arch_params) if self.clip_with_alpha else {}

  # -- state --------------------------------------------------------------

  def init(self, rng: Array, image_shape: tuple[int, ...]) -> SearchState:
    """A fresh state: weights from the model's initialisers, alpha and betas ``init_std * N(0, 1)``.

    Alpha then gets ``config.optimizer.alpha.init_offset`` added everywhere
    and ``init_bias`` on the columns of op ``init_bias_op`` (the skip-biased
    start of SA-DARTS' recovery experiment: ``init_bias=0.1`` on
    ``skip_connect``; ``init_offset=-1`` starts every logit at -1).

    Args:
      rng: a JAX key (typed or raw).
      image_shape: one example's shape, e.g. ``(32, 32, 3)``.
    """
    if not jnp.issubdtype(jnp.asarray(rng).dtype, jax.dtypes.prng_key):
      rng = jax.random.wrap_key_data(rng)
    k_params, k_alpha, k_run = jax.random.split(rng, 3)
    std = self.config.optimizer.alpha.init_std
    alphas = _normal_tree(k_alpha, self.space.alpha_shapes(self.config.space), std)
    alphas = _biased(alphas, self.config.optimizer.alpha, self.space.ops_per_row(self.config.space))
    betas = _normal_tree(
      jax.random.fold_in(k_alpha, 1), self.space.beta_shapes(self.config.space), std
    )
    dummy = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
    variables = init_variables(
      self.model,
      k_params,
      dummy,
      self.relaxation.probs(alphas),
      train=True,
      **_edge_kwargs(betas),
    )
    params = variables["params"]
    return SearchState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=variables.get("batch_stats", {}),
      alphas=alphas,
      betas=betas,
      weight_opt_state=self.weight_tx.init(params),
      alpha_opt_state=self.alpha_tx.init({"alphas": alphas, "betas": betas}),
      rng=jax.random.key_data(k_run),
      alpha_grad=self.initial_alpha_grad({"alphas": alphas, "betas": betas}),
    )

  # -- losses -------------------------------------------------------------

  def loss(
    self,
    params: PyTree,
    alphas: PyTree,
    batch: Batch,
    batch_stats: PyTree,
    rng: Array | None,
    betas: PyTree | None = None,
    epoch: Array | int = 0,
    projection: PyTree | None = None,
  ) -> tuple[Array, tuple[Array, PyTree]]:
    """Training-mode loss ``L(w, alpha[, beta])`` on ``batch``; aux = (logits, new BN stats).

    Args:
      params: supernet weights.
      alphas: architecture logits.
      batch: ``{'image', 'label'}``.
      batch_stats: BN running statistics.
      rng: a typed key: ``fold_in(rng, 0)`` draws the relaxation's sample,
        ``fold_in(rng, 1)`` is the supernet's ``'noise'`` stream. ``None``
        only for deterministic relaxations (and a fixed noise key).
      betas: raw edge logits, passed as ``edge_logits`` when non-empty.
      epoch: the (integer) epoch, for the relaxation's temperature schedule.
      projection: decided/pruned edges applied to the mixing weights
        (:func:`nasjax.core.projection.apply`); None or ``{}`` for none.
    """
    kwargs = _edge_kwargs(betas)
    relax_key = None
    if rng is not None:
      relax_key = jax.random.fold_in(rng, 0)
      kwargs["rngs"] = {"noise": jax.random.fold_in(rng, 1)}
    weights = self.relaxation.weights(alphas, relax_key, True, jnp.asarray(epoch, jnp.int32))
    weights = projection_lib.apply(weights, projection)
    images, compute_params = batch["image"], params
    if self.compute_dtype is not None:  # mixed precision: float32 values, low-precision arithmetic
      cast = functools.partial(_cast_floats, dtype=self.compute_dtype)
      images, compute_params, weights = cast(images), cast(params), cast(weights)
      kwargs = {k: cast(v) if k == "edge_logits" else v for k, v in kwargs.items()}
    logits, mutated = self.model.apply(
      {"params": compute_params, "batch_stats": batch_stats},
      images,
      weights,
      train=True,
      mutable=["batch_stats"],
      **kwargs,
    )
    new_stats = mutated["batch_stats"]
    if self.compute_dtype is not None:  # statistics and logits back to their float32
      new_stats = jax.tree.map(lambda new, old: new.astype(old.dtype), new_stats, batch_stats)
      logits = logits.astype(jnp.float32)
    return self.task.loss(logits, batch["label"]), (logits, new_stats)

  def logits(self, state: SearchState, images: Array) -> Array:
    """Evaluation-mode supernet logits with the deterministic op probabilities."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return self.model.apply(
      variables,
      images,
      projection_lib.apply(self.relaxation.probs(state.alphas), state.projection),
      train=False,
      **_edge_kwargs(state.betas),
    )

  @property
  def task(self) -> Task:
    """The space's task: its loss and metric (:mod:`nasjax.tasks`)."""
    return get_task(self.space.task)

  def evaluate(self, state: SearchState, batch: Batch) -> Metrics:
    """Loss and metric (``acc`` or ``psnr``, :attr:`task`) of the supernet on ``batch``, eval mode.

    An optional ``batch['weight']`` (1 for real examples, 0 for filler)
    weights the means; ``count`` is the total weight.
    """
    outputs = self.logits(state, batch["image"])
    labels = batch["label"]
    weight = batch.get("weight", jnp.ones(labels.shape[:1], jnp.float32))
    count = jnp.sum(weight)
    loss = self.task.per_example_loss(outputs, labels)
    metric = self.task.per_example_metric(outputs, labels)
    return {
      "loss": jnp.sum(weight * loss) / count,
      self.task.metric: jnp.sum(weight * metric) / count,
      "count": count,
    }

  # -- the two updates ----------------------------------------------------

  def _keys(self, state: SearchState) -> tuple[Array, Array]:
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    return jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

  def epoch(self, step: Array) -> Array:
    """The (integer) epoch a step belongs to."""
    return step // self.steps_per_epoch

  @property
  def warmup_epochs(self) -> int:
    """Epochs at the start during which alpha and betas stay fixed."""
    return int(self.config.optimizer.alpha.get("warmup_epochs", 0) or 0)

  def alpha_update(
    self, state: SearchState, train_batch: Batch, val_batch: Batch
  ) -> tuple[SearchState, Metrics]:
    """Updates alpha and betas only: hypergradient + regulariser gradient, then the alpha optimiser.

    With ``config.optimizer.alpha.frozen`` (alpha fixed for the whole run:
    the fixed-alpha search of darts-PT, the single-stage protocol's
    continued training) the update is always skipped; otherwise, while
    ``epoch < warmup_epochs``, the update is skipped (``jax.lax.cond``,
    so no hypergradient is computed): alpha, betas and the alpha optimiser
    state are returned untouched, ``val/*`` comes from a forward pass on the
    validation batch (no gradient), the gradient norms read 0, and
    ``alpha/updated`` (logged only when a warm-up is configured) is 0. A
    skipped update leaves the BN statistics as they are (whatever
    ``config.bn_stats_update``) and zeroes :attr:`SearchState.alpha_grad`.

    An update that runs also sets the BN statistics with ``both_steps``
    (see the module docstring) and keeps its gradient (hypergradient plus
    regulariser gradient, alpha and betas) in ``alpha_grad`` for the weight
    clip with ``grad_clip_scope='weights_and_alpha'``.
    """
    frozen = bool(self.config.optimizer.alpha.get("frozen", False))
    if not self.warmup_epochs and not frozen:
      return self._alpha_step(state, train_batch, val_batch)

    def update(state, train_batch, val_batch):
      state, metrics = self._alpha_step(state, train_batch, val_batch)
      return state, {**metrics, "alpha/updated": jnp.ones((), jnp.float32)}

    def skip(state, train_batch, val_batch):
      shapes = jax.eval_shape(update, state, train_batch, val_batch)[1]
      key, _ = self._keys(state)
      epoch = self.epoch(state.step)
      val_loss, (val_logits, _) = self.loss(
        state.params,
        state.alphas,
        val_batch,
        state.batch_stats,
        key,
        state.betas,
        epoch,
        state.projection,
      )
      reg, parts = self.regularizer(state.alphas, epoch)
      known = {
        "val/loss": val_loss,
        f"val/{self.task.metric}": self.task.score(val_logits, val_batch["label"]),
        "reg/total": reg,
        **parts,
        **self._alpha_summary(state.alphas),
      }
      metrics = {k: known.get(k, jnp.zeros(v.shape)).astype(v.dtype) for k, v in shapes.items()}
      return state.replace(alpha_grad=jax.tree.map(jnp.zeros_like, state.alpha_grad)), metrics

    if frozen:
      return skip(state, train_batch, val_batch)
    warming_up = self.epoch(state.step) < self.warmup_epochs
    return jax.lax.cond(warming_up, skip, update, state, train_batch, val_batch)

  def _alpha_summary(self, alphas: PyTree) -> Metrics:
    probs = jax.tree.leaves(self.relaxation.probs(alphas))
    edges = sum(math.prod(p.shape[:-1]) for p in probs)
    return {"alpha/entropy": sum(entropy(p, "sum") for p in probs) / edges}

  def _alpha_step(
    self, state: SearchState, train_batch: Batch, val_batch: Batch
  ) -> tuple[SearchState, Metrics]:
    key, _ = self._keys(state)
    epoch = self.epoch(state.step)
    w_cfg = self.config.optimizer.weights
    inner = hg.InnerStep(
      lr=self.lr_schedule(state.step),
      momentum=w_cfg.momentum,
      momentum_buffer=(
        momentum_buffer(state.weight_opt_state)
        if w_cfg.get("name", "sgd") == "sgd"
        else jax.tree.map(jnp.zeros_like, state.params)  # first order only (validated)
      ),
      weight_decay=w_cfg.weight_decay,
      nesterov=w_cfg.nesterov,
    )

    def loss_fn(params, arch, batch):
      return self.loss(
        params,
        arch["alphas"],
        batch,
        state.batch_stats,
        key,
        arch["betas"],
        epoch,
        state.projection,
      )

    arch = state.arch_params
    g_hyper, (val_loss, (val_logits, val_stats)), train_aux = self.hypergradient(
      loss_fn, state.params, arch, train_batch, val_batch, inner, with_train_aux=True
    )
    (reg, parts), g_reg = jax.value_and_grad(self.regularizer, has_aux=True)(state.alphas, epoch)
    grads = {"alphas": jax.tree.map(jnp.add, g_hyper["alphas"], g_reg), "betas": g_hyper["betas"]}
    updates, alpha_opt_state = self.alpha_tx.update(grads, state.alpha_opt_state, arch)
    new = optax.apply_updates(arch, updates)
    metrics = {
      "val/loss": val_loss,
      f"val/{self.task.metric}": self.task.score(val_logits, val_batch["label"]),
      "reg/total": reg,
      **parts,
      "alpha/grad_norm": optax.tree.norm(grads["alphas"]),
      **self._alpha_summary(new["alphas"]),
    }
    if jax.tree.leaves(state.betas):
      metrics["beta/grad_norm"] = optax.tree.norm(grads["betas"])
    state = state.replace(alphas=new["alphas"], betas=new["betas"], alpha_opt_state=alpha_opt_state)
    if self.alpha_step_updates_bn:  # first order: the validation forward; else the unrolling one
      state = state.replace(batch_stats=val_stats if train_aux is None else train_aux[1])
    if self.clip_with_alpha:
      state = state.replace(alpha_grad=grads)
    return state, metrics

  def weight_update(self, state: SearchState, train_batch: Batch) -> tuple[SearchState, Metrics]:
    """Updates the weights (and BN statistics) only, at the current alpha.

    With the clip over weights and alpha (:attr:`clip_with_alpha`) the
    gradient of the training loss w.r.t. alpha and betas is computed too and
    counts, with :attr:`SearchState.alpha_grad`, in the clipped norm;
    ``weights/clip_norm`` and ``alpha/clip_grad_norm`` log that norm and
    alpha's part of it.
    """
    _, key = self._keys(state)
    epoch = self.epoch(state.step)

    def loss_fn(params, arch):
      return self.loss(
        params,
        arch["alphas"],
        train_batch,
        state.batch_stats,
        key,
        arch["betas"],
        epoch,
        state.projection,
      )

    extra: dict[str, Array] = {}
    if self.clip_with_alpha:
      (loss, (logits, batch_stats)), (grads, g_arch) = jax.value_and_grad(
        loss_fn, argnums=(0, 1), has_aux=True
      )(state.params, state.arch_params)
      alpha_grad = jax.tree.map(jnp.add, state.alpha_grad, g_arch)  # PyTorch's alpha .grad
      alpha_sq = sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(alpha_grad))
      extra = {CLIP_EXTRA_ARG: alpha_sq}
    else:
      (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, state.arch_params
      )
    updates, weight_opt_state = self.weight_tx.update(
      grads, state.weight_opt_state, state.params, **extra
    )
    params = optax.apply_updates(state.params, updates)
    metrics = {
      "train/loss": loss,
      f"train/{self.task.metric}": self.task.score(logits, train_batch["label"]),
      "weights/grad_norm": optax.tree.norm(grads),
      "lr": self.lr_schedule(state.step),
    }
    if extra:
      metrics["weights/clip_norm"] = clip_norm(grads, extra[CLIP_EXTRA_ARG])
      metrics["alpha/clip_grad_norm"] = jnp.sqrt(extra[CLIP_EXTRA_ARG])
    return state.replace(
      params=params, batch_stats=batch_stats, weight_opt_state=weight_opt_state
    ), metrics

  def step(
    self, state: SearchState, train_batch: Batch, val_batch: Batch
  ) -> tuple[SearchState, Metrics]:
    """One search step: the alpha update on ``val_batch`` and the weight update on ``train_batch``.

    In the order of ``config.step_order`` (alpha first by default).
    """
    if self.weights_first:
      state, weight_metrics = self.weight_update(state, train_batch)
      state, alpha_metrics = self.alpha_update(state, train_batch, val_batch)
    else:
      state, alpha_metrics = self.alpha_update(state, train_batch, val_batch)
      state, weight_metrics = self.weight_update(state, train_batch)
    return state.replace(step=state.step + 1), {**alpha_metrics, **weight_metrics}


def _hypergradient(config: ml_collections.ConfigDict) -> Callable[..., Any]:
  fn = hg.HYPERGRADIENTS[config.hypergradient]
  if fn is hg.second_order_fd:
    fn = functools.partial(fn, radius=config.fd_radius)
  return fn


def make_search_setup(config: ml_collections.ConfigDict, steps_per_epoch: int) -> SearchSetup:
  """Validates ``config`` and builds the search's pure functions.

  Args:
    config: a search config (see :func:`nasjax.config.search_config`).
    steps_per_epoch: search steps per epoch; sets the cosine schedule and the
      epoch that regulariser schedules see.

  Raises:
    ConfigError: for an invalid config, naming the field.
  """
  validate_search_config(config)
  if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
    raise ValueError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
  space = get_space(config.space.name)
  relaxation = make_relaxation(config.relaxation, total_epochs=config.epochs)
  w_cfg = config.optimizer.weights
  lr_schedule = epoch_cosine_schedule(w_cfg.lr, w_cfg.lr_min, config.epochs, steps_per_epoch)
  return SearchSetup(
    config=config,
    space=space,
    model=space.build_supernet(config.space),
    relaxation=relaxation,
    regularizer=make_regularizer(
      config.regularizers, config.epochs, relaxation.probs, space.costs(config.space)
    ),
    weight_tx=weight_optimizer(w_cfg, lr_schedule),
    alpha_tx=alpha_optimizer(config.optimizer.alpha),
    lr_schedule=lr_schedule,
    hypergradient=_hypergradient(config),
    steps_per_epoch=steps_per_epoch,
    compute_dtype=compute_dtype(config.get("precision", "float32")),
  )


def compute_dtype(precision: str) -> Any:
  """The arithmetic dtype of ``config.precision``; None for float32 (no casts).

  ``auto`` is bfloat16 on GPU and TPU and float32 on CPU, where bfloat16
  arithmetic is emulated and slower.
  """
  if precision == "auto":
    precision = "float32" if jax.default_backend() == "cpu" else "bfloat16"
  return jnp.bfloat16 if precision == "bfloat16" else None


def _cast_floats(tree: PyTree, dtype: Any) -> PyTree:
  """Floating-point leaves of ``tree`` cast to ``dtype`` (others unchanged)."""
  return jax.tree.map(
    lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, tree
  )


def _normal_tree(rng: Array, shapes: dict[str, tuple[int, ...]], std: float) -> dict[str, Array]:
  """``{name: std * N(0, 1)}`` of the given shapes, one key per name (in sorted order)."""
  keys = dict(zip(sorted(shapes), jax.random.split(rng, len(shapes)), strict=True))
  return {name: std * jax.random.normal(keys[name], shape) for name, shape in shapes.items()}


def _biased(
  alphas: dict[str, Array], cfg: ml_collections.ConfigDict, ops: dict[str, tuple]
) -> dict[str, Array]:
  """``alphas + init_offset``, plus ``init_bias`` on the columns of op ``init_bias_op``."""
  offset, bias = float(cfg.get("init_offset", 0.0)), float(cfg.get("init_bias", 0.0))
  if not offset and not bias:
    return alphas
  target = cfg.get("init_bias_op", "skip_connect")
  out = {}
  for name, a in alphas.items():
    hit = jnp.asarray([[float(op == target) for op in row] for row in ops[name]], a.dtype)
    out[name] = a + offset + bias * hit
  return out


def _edge_kwargs(betas: PyTree | None) -> dict[str, Any]:
  """``{'edge_logits': betas}`` when there are betas, else nothing (no edge normalisation)."""
  return {"edge_logits": betas} if betas is not None and jax.tree.leaves(betas) else {}


def init_search_state(
  config: ml_collections.ConfigDict, rng: Array, image_shape: tuple[int, ...] = (32, 32, 3)
) -> SearchState:
  """A fresh :class:`SearchState` for ``config`` (see :meth:`SearchSetup.init`)."""
  return make_search_setup(config, steps_per_epoch=1).init(rng, image_shape)


def make_search_step(
  config: ml_collections.ConfigDict, steps_per_epoch: int
) -> Callable[[SearchState, Batch, Batch], tuple[SearchState, Metrics]]:
  """The jitted search step ``(state, train_batch, val_batch) -> (state, metrics)``.

  The state argument is donated: do not reuse it after the call.
  """
  return jax.jit(make_search_setup(config, steps_per_epoch).step, donate_argnums=0)
