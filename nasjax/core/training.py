"""Training a fixed network from scratch: the train state and the one jitted step.

The retraining counterpart of :mod:`nasjax.core.bilevel`: :class:`TrainState`
is an explicit pytree, and :func:`make_train_setup` returns the pure
functions of a run (``init``, ``step``, ``evaluate``); jit ``step`` with the
state donated. Randomness (drop path) is ``fold_in(state.rng, state.step)``,
so a resumed run draws the same masks.

The loss is cross-entropy with optional label smoothing plus
``aux_weight`` times the auxiliary head's cross-entropy. The optimiser is
DARTS': global-norm gradient clipping, coupled weight decay on every
parameter (DARTS excludes none), SGD with momentum (Nesterov optional), and a
learning rate that changes once per epoch (``schedule``):

* ``cosine`` -- from ``lr`` to ``lr_min`` (PyTorch's ``CosineAnnealingLR``
  stepped per epoch; the CIFAR protocol);
* ``exponential`` -- ``lr * gamma ** epoch`` (DARTS' ImageNet protocol, 0.97);
* ``step`` -- ``lr * gamma ** (epoch // decay_epochs)``.

The drop-path probability of epoch ``e`` is ``drop_path_prob * e / epochs``,
computed inside the step from ``state.step``.

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.spaces.darts.genotype import DARTS_V2
  >>> from nasjax.config.retrain import retrain_config
  >>> from nasjax.core.training import make_train_setup
  >>> config = retrain_config()
  >>> config.network.channels, config.network.layers = 4, 3
  >>> setup = make_train_setup(config, steps_per_epoch=10, genotype=DARTS_V2)
  >>> float(setup.lr_schedule(25)), float(setup.drop_path_schedule(25))  # epoch 2
  (0.024999..., 0.000666...)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from nasjax.config.retrain import validate_retrain_config
from nasjax.core.optimizers import epoch_cosine_schedule, weight_optimizer
from nasjax.infra.compilation import init_variables
from nasjax.spaces.darts.genotype import DartsGenotype
from nasjax.spaces.darts.network import build_network
from nasjax.tasks.base import Task

Array = jax.Array
PyTree = Any
Batch = dict[str, Array]
Metrics = dict[str, Array]

LR_SCHEDULES = ("cosine", "exponential", "step")


@flax.struct.dataclass
class TrainState:
  """Everything a training run carries from one step to the next.

  Attributes:
    step: the number of completed steps (int32 scalar).
    params: the network's weights.
    batch_stats: BN running statistics.
    opt_state: the optimiser's state (momentum buffer).
    rng: raw ``uint32`` key data; step ``t`` uses ``fold_in(rng, t)``.
  """

  step: Array
  params: PyTree
  batch_stats: PyTree
  opt_state: optax.OptState
  rng: Array


def init_train_state(
  model: nn.Module, tx: optax.GradientTransformation, rng: Array, image_shape: tuple[int, ...]
) -> TrainState:
  """A fresh :class:`TrainState` of ``model`` (initialised with ``train=False``) and ``tx``.

  Args:
    model: the network, called as ``model(x, train=...)``.
    tx: its optimiser.
    rng: a JAX key (typed or raw).
    image_shape: one input example's shape, e.g. ``(32, 32, 3)``.
  """
  if not jnp.issubdtype(jnp.asarray(rng).dtype, jax.dtypes.prng_key):
    rng = jax.random.wrap_key_data(rng)
  k_params, k_run = jax.random.split(rng)
  dummy = jnp.zeros((2, *image_shape), jnp.float32)
  variables = init_variables(model, k_params, dummy, train=False)
  params = variables["params"]
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    batch_stats=variables.get("batch_stats", {}),
    opt_state=tx.init(params),
    rng=jax.random.key_data(k_run),
  )


def epoch_lr_schedule(cfg: ml_collections.ConfigDict, epochs: int, steps_per_epoch: int):
  """The learning rate of ``config.optimizer`` as a function of the step (constant per epoch)."""
  if cfg.schedule == "cosine":
    return epoch_cosine_schedule(cfg.lr, cfg.lr_min, epochs, steps_per_epoch)

  def schedule(step: Array) -> Array:
    epoch = jnp.minimum(jnp.asarray(step) // steps_per_epoch, epochs)
    power = epoch if cfg.schedule == "exponential" else epoch // cfg.decay_epochs
    return jnp.asarray(cfg.lr * cfg.gamma ** power.astype(jnp.float32), jnp.float32)

  return schedule


def classification_loss(logits: Array, labels: Array, label_smoothing: float = 0.0) -> Array:
  """Mean cross-entropy against one-hot labels smoothed towards uniform by ``label_smoothing``."""
  logits = logits.astype(jnp.float32)
  targets = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits, targets))


def top_k_correct(logits: Array, labels: Array, k: int) -> Array:
  """1.0 where the label is among the ``k`` largest logits, per example."""
  k = min(k, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class TrainSetup:
  """The pure functions of one training run, built by :func:`make_train_setup`."""

  config: ml_collections.ConfigDict
  model: nn.Module
  tx: optax.GradientTransformation
  lr_schedule: optax.Schedule
  steps_per_epoch: int

  def drop_path_schedule(self, step: Array) -> Array:
    """``drop_path_prob * epoch / epochs`` (0 in the first epoch)."""
    epoch = jnp.asarray(step) // self.steps_per_epoch
    rate = self.config.network.drop_path_prob * epoch / self.config.epochs
    return jnp.asarray(rate, jnp.float32)

  def init(self, rng: Array, image_shape: tuple[int, ...]) -> TrainState:
    """A fresh state (PyTorch's default initialisers, see :mod:`nasjax.spaces.ops`).

    Args:
      rng: a JAX key (typed or raw).
      image_shape: one example's shape, e.g. ``(32, 32, 3)``.
    """
    return init_train_state(self.model, self.tx, rng, image_shape)

  def loss(
    self, params: PyTree, batch_stats: PyTree, batch: Batch, drop_path: Array, rng: Array
  ) -> tuple[Array, tuple[Array, Array, PyTree]]:
    """Training loss; aux = (main cross-entropy, logits, new BN statistics)."""
    (logits, aux_logits), mutated = self.model.apply(
      {"params": params, "batch_stats": batch_stats},
      batch["image"],
      train=True,
      drop_path=drop_path,
      rngs={"dropout": rng},
      mutable=["batch_stats"],
    )
    smoothing = self.config.label_smoothing
    main = classification_loss(logits, batch["label"], smoothing)
    total = main
    if aux_logits is not None:
      aux = classification_loss(aux_logits, batch["label"], smoothing)
      total = total + self.config.network.aux_weight * aux
    return total, (main, logits, mutated["batch_stats"])

  def step(self, state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
    """One SGD step on ``batch`` (``image``, ``label``)."""
    key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    drop_path = self.drop_path_schedule(state.step)
    (loss, (main, logits, batch_stats)), grads = jax.value_and_grad(self.loss, has_aux=True)(
      state.params, state.batch_stats, batch, drop_path, key
    )
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
      "train/loss": loss,
      "train/ce": main,
      "train/acc": jnp.mean(top_k_correct(logits, batch["label"], 1)),
      "weights/grad_norm": optax.tree.norm(grads),
      "lr": self.lr_schedule(state.step),
      "drop_path": drop_path,
    }
    new_state = state.replace(
      step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state
    )
    return new_state, metrics

  def logits(self, state: TrainState, images: Array) -> Array:
    """Evaluation-mode logits (running BN statistics, no drop path)."""
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return self.model.apply(variables, images, train=False)[0]

  def evaluate(self, state: TrainState, batch: Batch) -> Metrics:
    """Cross-entropy, top-1 and top-5 accuracy on ``batch`` in evaluation mode.

    An optional ``batch['weight']`` (1 for real examples, 0 for filler)
    weights the means; ``count`` is the total weight.
    """
    logits = self.logits(state, batch["image"]).astype(jnp.float32)
    labels = batch["label"]
    weight = batch.get("weight", jnp.ones(labels.shape, jnp.float32))
    count = jnp.sum(weight)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    return {
      "loss": jnp.sum(weight * loss) / count,
      "top1": jnp.sum(weight * top_k_correct(logits, labels, 1)) / count,
      "top5": jnp.sum(weight * top_k_correct(logits, labels, 5)) / count,
      "count": count,
    }


def make_train_setup(
  config: ml_collections.ConfigDict, steps_per_epoch: int, genotype: DartsGenotype
) -> TrainSetup:
  """Validates ``config`` and builds the pure functions of training ``genotype``'s network.

  Args:
    config: a retrain config (:func:`nasjax.config.retrain.retrain_config`).
    steps_per_epoch: steps per epoch; sets the per-epoch learning rate and
      drop-path schedules.
    genotype: the architecture; the network is ``config.network``'s
      (:func:`nasjax.spaces.darts.network.build_network`).

  Raises:
    ConfigError: for an invalid config, naming the field.
  """
  validate_retrain_config(config)
  if not (isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
    raise ValueError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
  opt = config.optimizer
  lr_schedule = epoch_lr_schedule(opt, config.epochs, steps_per_epoch)
  return TrainSetup(
    config=config,
    model=build_network(genotype, config.network),
    tx=weight_optimizer(opt, lr_schedule),
    lr_schedule=lr_schedule,
    steps_per_epoch=steps_per_epoch,
  )


@dataclasses.dataclass(frozen=True)
class TaskTrainSetup:
  """The pure functions of training one network on a task's loss (SR and segmentation retraining).

  Attributes:
    config: the retrain config.
    model: the network, called as ``model(x, train=...)``.
    tx: its optimiser.
    lr_schedule: the learning rate by step (logged as ``lr``).
    steps_per_epoch: steps of one epoch.
    task: the loss and metric (a :class:`~nasjax.tasks.base.Task`): ``train/loss`` and
      ``train/<metric>`` per step, ``loss`` and ``<metric>`` per evaluation batch.
  """

  config: ml_collections.ConfigDict
  model: nn.Module
  tx: optax.GradientTransformation
  lr_schedule: optax.Schedule
  steps_per_epoch: int
  task: Task

  def init(self, rng: Array, image_shape: tuple[int, ...]) -> TrainState:
    """A fresh state for inputs of ``image_shape``."""
    return init_train_state(self.model, self.tx, rng, image_shape)

  def step(self, state: TrainState, batch: dict[str, Array]) -> tuple[TrainState, dict[str, Array]]:
    """One optimiser step on ``batch`` (``image``, ``label`` as the task reads it)."""

    def loss_fn(params):
      out, mutated = self.model.apply(
        {"params": params, "batch_stats": state.batch_stats},
        batch["image"],
        train=True,
        mutable=["batch_stats"],
      )
      return self.task.loss(out, batch["label"]), (out, mutated["batch_stats"])

    (loss, (out, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    metrics = {
      "train/loss": loss,
      f"train/{self.task.metric}": self.task.score(out, batch["label"]),
      "weights/grad_norm": optax.tree.norm(grads),
      "lr": self.lr_schedule(state.step),
    }
    return state.replace(
      step=state.step + 1,
      params=optax.apply_updates(state.params, updates),
      batch_stats=batch_stats,
      opt_state=opt_state,
    ), metrics

  def evaluate(self, state: TrainState, batch: dict[str, Array]) -> dict[str, Array]:
    """Per-example loss and metric on ``batch``, means weighted by its ``weight`` (1 if absent)."""
    out = self.model.apply(
      {"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False
    )
    weight = batch.get("weight", jnp.ones(batch["image"].shape[:1], jnp.float32))
    count = jnp.sum(weight)
    return {
      "loss": jnp.sum(weight * self.task.per_example_loss(out, batch["label"])) / count,
      self.task.metric: jnp.sum(weight * self.task.per_example_metric(out, batch["label"])) / count,
      "count": count,
    }
