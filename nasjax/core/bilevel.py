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

The optimisers are those of :mod:`nasjax.core.optimizers`
(``docs/methods.md``, Defaults on CIFAR): SGD with momentum, coupled weight
decay, clipping and a per-epoch cosine learning rate for the weights; Adam
with a coupled L2 term for alpha. The step protocol's options are
``docs/methods.md``'s "The step and its protocol".

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

The state is :mod:`nasjax.core.state`'s; :func:`nasjax.core.setup.make_search_setup`
builds a :class:`SearchSetup` from a config.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from nasjax.core import hypergradient as hg
from nasjax.core import projection as projection_lib
from nasjax.core.optimizers import (
  CLIP_EXTRA_ARG,
  clip_norm,
  momentum_buffer,
)
from nasjax.core.regularizers import Regularizer, entropy
from nasjax.core.relax import Relaxation
from nasjax.core.state import ForwardContext, SearchState, biased, edge_kwargs, normal_tree
from nasjax.infra.compilation import init_variables
from nasjax.spaces.base import SearchSpace
from nasjax.tasks.base import Task
from nasjax.tasks.registry import get_task

Array = jax.Array
PyTree = Any
Batch = dict[str, Array]
Metrics = dict[str, Array]


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
    alphas = normal_tree(k_alpha, self.space.alpha_shapes(self.config.space), std)
    alphas = biased(alphas, self.config.optimizer.alpha, self.space.ops_per_row(self.config.space))
    betas = normal_tree(
      jax.random.fold_in(k_alpha, 1), self.space.beta_shapes(self.config.space), std
    )
    dummy = jnp.zeros((2,) + tuple(image_shape), jnp.float32)
    variables = init_variables(
      self.model,
      k_params,
      dummy,
      self.relaxation.probs(alphas),
      train=True,
      **edge_kwargs(betas),
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
    context: ForwardContext,
    betas: PyTree | None = None,
  ) -> tuple[Array, tuple[Array, PyTree]]:
    """Training-mode loss ``L(w, alpha[, beta])`` on ``batch``; aux = (logits, new BN stats).

    Args:
      params: supernet weights.
      alphas: architecture logits.
      batch: ``{'image', 'label'}``.
      context: what the forward pass reads besides them (BN statistics,
        the step's key, the epoch, decided edges; :class:`ForwardContext`).
      betas: raw edge logits, passed as ``edge_logits`` when non-empty.
    """
    rng, epoch, projection = context.rng, context.epoch, context.projection
    batch_stats = context.batch_stats
    kwargs = edge_kwargs(betas)
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
      **edge_kwargs(state.betas),
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
        state.params, state.alphas, val_batch, ForwardContext.of(state, key, epoch), state.betas
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

    context = ForwardContext.of(state, key, epoch)

    def loss_fn(params, arch, batch):
      return self.loss(params, arch["alphas"], batch, context, arch["betas"])

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

    context = ForwardContext.of(state, key, epoch)

    def loss_fn(params, arch):
      return self.loss(params, arch["alphas"], train_batch, context, arch["betas"])

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


def _cast_floats(tree: PyTree, dtype: Any) -> PyTree:
  """Floating-point leaves of ``tree`` cast to ``dtype`` (others unchanged)."""
  return jax.tree.map(
    lambda x: x.astype(dtype) if jnp.issubdtype(jnp.result_type(x), jnp.floating) else x, tree
  )
