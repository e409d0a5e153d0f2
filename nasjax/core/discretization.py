"""Discretisation error: the supernet against its argmax network with inherited weights.

darts-PT (arXiv 2108.04392) and "The devil is in discretization discrepancy"
(arXiv 2405.16610) measure how much accuracy the step from the relaxed
supernet to the derived (argmax) architecture loses when the derived network
keeps the supernet's weights. In nasjax that network needs no separate
model: it is the supernet applied with one-hot mixing weights,
:meth:`nasjax.spaces.SearchSpace.genotype_weights` of the derived genotype (per
edge 1 on the chosen op and 0 elsewhere; in the DARTS space all-zero rows for
the edges a node does not keep among its top-2 inputs; no renormalisation, and
a mixed op of weight 0 contributes nothing). Under PC-DARTS' partial channels
the derived network is likewise the one the supernet trained: each kept edge
applies its op to the same 1/K of the channels and lets the rest bypass.
With edge normalisation the derived network takes no edge logits (every kept
edge has weight 1), whereas the supernet scales each edge by the softmax of
its betas over the node's incoming edges.

:func:`discretization_error` reports three figures on the same evaluation
batches:

* ``supernet``: the supernet with the relaxation's deterministic op
  probabilities (and betas), BN as the supernet is evaluated: running
  statistics when ``config.space.track_running_stats``, else batch statistics
  of each evaluation batch.
* ``derived``: the argmax network in the same BN mode. With tracked
  statistics it inherits the supernet's running statistics, which describe
  the mixture rather than the derived network (stale); with batch statistics
  it normalises with the evaluation batch's own statistics.
* ``derived_recal``: the argmax network after :func:`recalibrate_bn`
  re-estimated every BN's population statistics for it on batches of the
  weight half, evaluated with those statistics.

``gap = supernet_acc - derived_acc`` and ``gap_recal = supernet_acc -
derived_recal_acc``. The figures coincide when the op probabilities are
already one-hot (and no edge normalisation scales the edges). With tracked
statistics, ``gap`` large and ``gap_recal`` small means the accuracy was lost
to stale BN statistics rather than to the weights; both large means the
supernet's weights relied on the mixture.

Compiled functions: :func:`evaluate_weights` takes the mixing weights as
data, so one compiled per-batch program serves any weights (perturbation-based
selection evaluates hundreds of masked weight sets). The per-batch programs of
:func:`evaluate_weights` and :func:`recalibrate_bn` are cached in
``functools.lru_cache`` functions keyed by ``(model, BN mode)`` and by the
model (Flax modules compare and hash by their fields, so the supernets of
equal configs share one entry); each compiles once per batch shape and per
presence of betas. The tracking copy of a supernet is cached by the supernet.

Example:
  >>> from nasjax.config.search import search_config
  >>> from nasjax.spaces import get_space
  >>> cfg = search_config().space
  >>> space = get_space(cfg.name)
  >>> g = space.parse_genotype('|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|'
  ...                          '+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|')
  >>> w = space.genotype_weights(g, cfg)
  >>> w['cell'][0].tolist()
  [0.0, 0.0, 0.0, 1.0, 0.0]
  >>> space.derive_genotype(w, cfg) == g
  True

  With a search's setup, state and data (:class:`nasjax.tasks.classification.data.SearchData`)::

    figures = discretization_error(
        setup, state,
        eval_batches=lambda: data.half_batches('alpha', 64, limit=1024),
        recal_batches=lambda: data.half_batches('weight', 64, limit=512))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nasjax.core import projection as projection_lib
from nasjax.core.state import edge_kwargs
from nasjax.spaces import ops
from nasjax.tasks.base import Task

Array = jax.Array
PyTree = Any
Batch = Mapping[str, Any]
Batches = Iterable[Batch] | Callable[[], Iterable[Batch]]

BN_MODES = ("batch", "running")


def _reusable(batches: Batches) -> Callable[[], Iterable[Batch]]:
  """A zero-argument callable returning the batches, whatever form they were given in."""
  if callable(batches):
    return batches
  if iter(batches) is batches:  # a one-shot iterator: keep its batches for later passes
    batches = list(batches)
  return lambda: batches


def _key(rng: Array | None) -> Array:
  if rng is None:
    return jax.random.key(0)
  rng = jnp.asarray(rng)
  return rng if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key) else jax.random.wrap_key_data(rng)


def _as_f32(tree: PyTree) -> PyTree:
  return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), dict(tree or {}))


def _fields(batch: Batch, task: Task) -> dict[str, Array]:
  """The image, label and example weight of a batch (weight 1 where the batch has none)."""
  labels = jnp.asarray(batch["label"], task.label_dtype)
  weight = batch.get("weight")
  weight = jnp.ones(labels.shape[:1], jnp.float32) if weight is None else weight
  return {
    "image": jnp.asarray(batch["image"]),
    "label": labels,
    "weight": jnp.asarray(weight, jnp.float32),
  }


@functools.lru_cache(maxsize=32)
def _eval_fn(model: nn.Module, bn: str, task: Task) -> Callable[..., Array]:
  """The jitted per-batch ``[sum w*loss, sum w*metric, sum w]`` of ``model`` in mode ``bn``."""
  train = bn == "batch"

  def per_batch(params, batch_stats, weights, betas, batch, key, index):
    variables = {"params": params, "batch_stats": batch_stats}
    kwargs = dict(edge_kwargs(betas), rngs={"noise": jax.random.fold_in(key, index)})
    if train:  # batch statistics; the updated running statistics are dropped
      logits, _ = model.apply(
        variables, batch["image"], weights, train=True, mutable=["batch_stats"], **kwargs
      )
    else:
      logits = model.apply(variables, batch["image"], weights, train=False, **kwargs)
    loss = task.per_example_loss(logits, batch["label"])
    metric = task.per_example_metric(logits, batch["label"])
    w = batch["weight"]
    return jnp.stack([jnp.sum(w * loss), jnp.sum(w * metric), jnp.sum(w)])

  return jax.jit(per_batch)


def evaluate_weights(
  setup: Any,
  params: PyTree,
  batch_stats: PyTree,
  weights: Mapping[str, Any],
  betas: Mapping[str, Any] | None,
  batches: Batches,
  bn: str = "batch",
  rng: Array | None = None,
  model: nn.Module | None = None,
) -> dict[str, float]:
  """Loss and accuracy of the supernet under given mixing weights, without gradients.

  Args:
    setup: the search's :class:`~nasjax.core.bilevel.SearchSetup`.
    params: supernet weights.
    batch_stats: BN running statistics (used with ``bn='running'``).
    weights: mixing weights ``{name: (E, O)}`` (op probabilities, one-hot rows, masked rows).
    betas: raw edge logits passed as ``edge_logits`` when non-empty; None or
      ``{}`` for none (the derived network of an edge-normalised space).
    batches: batches ``{'image', 'label', ['weight']}`` of one shape, or a
      callable returning them; ``weight`` (1 real, 0 filler) weights the means.
    bn: ``'batch'``: every BN normalises with the batch's statistics (a
      training-mode forward whose new running statistics are dropped);
      ``'running'``: BNs that track running statistics use them (evaluation
      mode; BNs built with ``track_running_stats=False`` use batch statistics
      in either mode).
    rng: key of the ``'noise'`` rng stream (RobustDARTS' ``noise`` op),
      folded with the batch index; default a fixed key, so repeated calls
      see the same noise.
    model: the network to apply instead of ``setup.model``, e.g. the tracking
      copy :func:`recalibrate_bn` returns.

  Returns:
    ``{'loss', 'acc', 'count'}``: the example-weighted mean cross-entropy and
    accuracy over all batches, and the total example weight (``psnr`` and
    the L1 loss in a super-resolution space, :attr:`SearchSetup.task`).

  Raises:
    ValueError: for an unknown ``bn`` or batches without any weighted example.
  """
  if bn not in BN_MODES:
    raise ValueError(f"bn must be one of {list(BN_MODES)}, got {bn!r}")
  task = setup.task
  fn = _eval_fn(setup.model if model is None else model, bn, task)
  weights, betas, key = _as_f32(weights), _as_f32(betas), _key(rng)
  total = jnp.zeros((3,), jnp.float32)
  for index, batch in enumerate(_reusable(batches)()):
    total = total + fn(params, batch_stats, weights, betas, _fields(batch, task), key, index)
  loss, metric, count = (float(v) for v in jax.device_get(total))
  if count <= 0:
    raise ValueError("the batches hold no example of positive weight; pass at least one batch")
  return {"loss": loss / count, task.metric: metric / count, "count": count}


#: The supernet rebuilt with tracked BN statistics, by the supernet it copies.
_TRACKING_MODELS: dict[nn.Module, nn.Module] = {}


def _tracking_model(setup: Any) -> nn.Module:
  """``setup.model`` rebuilt from its space config with ``track_running_stats=True`` (cached)."""
  if setup.model not in _TRACKING_MODELS:
    cfg = setup.config.space.copy_and_resolve_references()
    with cfg.unlocked():
      cfg.track_running_stats = True
    _TRACKING_MODELS[setup.model] = setup.space.build_supernet(cfg)
  return _TRACKING_MODELS[setup.model]


@functools.lru_cache(maxsize=16)
def _stats_fn(model: nn.Module) -> Callable[..., PyTree]:
  """The jitted ``momentum * (batch mean, unbiased batch var)`` of every BN of ``model``."""

  def per_batch(params, zero_stats, weights, betas, image, key, index):
    _, mutated = model.apply(
      {"params": params, "batch_stats": zero_stats},
      image,
      weights,
      train=True,
      mutable=["batch_stats"],
      rngs={"noise": jax.random.fold_in(key, index)},
      **edge_kwargs(betas),
    )
    return mutated["batch_stats"]

  return jax.jit(per_batch)


def _layout(model: nn.Module, image: Array, weights: PyTree, betas: PyTree) -> PyTree:
  return jax.eval_shape(
    lambda: model.init(jax.random.key(0), image, weights, train=True, **edge_kwargs(betas))
  )


def recalibrate_bn(
  setup: Any,
  params: PyTree,
  weights: Mapping[str, Any],
  betas: Mapping[str, Any] | None,
  batches: Batches,
  rng: Array | None = None,
) -> tuple[nn.Module, PyTree]:
  """Re-estimates every BN's population statistics for the network of ``weights``.

  The network is a copy of the supernet built with
  ``track_running_stats=True`` (the same parameters: search-cell BNs have no
  affine parameters, so tracking only adds statistics; checked here). Each
  batch goes through it in training mode, and each BN's statistics are the
  cumulative average over batches of its per-batch mean and unbiased
  variance (PyTorch's ``momentum=None``; :class:`nasjax.spaces.ops.BatchNorm` keeps
  the unbiased variance in its running variance). Every BN is re-estimated,
  including the stem, reduction blocks and classifier. A batch's ``weight``
  field is ignored: every batch counts equally, filler examples included
  (real images of the same data, see
  :meth:`nasjax.tasks.classification.data.SearchData.half_batches`).

  Args:
    setup: the search's :class:`~nasjax.core.bilevel.SearchSetup`.
    params: supernet weights.
    weights: mixing weights ``{name: (E, O)}``.
    betas: raw edge logits, or None / ``{}``.
    batches: batches ``{'image', ...}`` of one shape (or a callable returning them).
    rng: key of the ``'noise'`` rng stream (default a fixed key).

  Returns:
    ``(model, batch_stats)``: evaluate with
    ``evaluate_weights(..., batch_stats, ..., bn='running', model=model)``.

  Raises:
    ValueError: if ``batches`` is empty or ``params`` do not fit the tracking copy.
  """
  model = _tracking_model(setup)
  fn = _stats_fn(model)
  weights, betas, key = _as_f32(weights), _as_f32(betas), _key(rng)
  total, zero, count = None, None, 0
  for index, batch in enumerate(_reusable(batches)()):
    image = jnp.asarray(batch["image"])
    if zero is None:
      layout = _layout(model, image, weights, betas)
      if jax.tree.structure(layout["params"]) != jax.tree.structure(params) or any(
        a.shape != b.shape
        for a, b in zip(jax.tree.leaves(layout["params"]), jax.tree.leaves(params), strict=True)
      ):
        raise ValueError(
          "params do not fit the supernet rebuilt with track_running_stats=True; pass the "
          "weights of this setup's supernet"
        )
      zero = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), layout.get("batch_stats", {}))
    stats = fn(params, zero, weights, betas, image, key, index)
    total = stats if total is None else jax.tree.map(jnp.add, total, stats)
    count += 1
  if not count:
    raise ValueError("recalibrate_bn needs at least one batch")
  # With zero incoming statistics a training-mode BN stores momentum * (batch statistic).
  scale = 1.0 / (ops.BatchNorm.momentum * count)
  return model, jax.tree.map(lambda t, z: (t * scale).astype(z.dtype), total, zero)


def discretization_error(
  setup: Any, state: Any, eval_batches: Batches, recal_batches: Batches
) -> dict[str, float]:
  """Supernet, derived-network and recalibrated derived-network loss and accuracy.

  See the module docstring for the three figures. The supernet's mixing
  weights are ``setup.relaxation.probs(state.alphas)`` with the state's
  projection applied (decided and pruned edges, during perturbation-based
  selection), with ``state.betas``; the derived genotype is
  ``setup.space.derive_genotype`` of those weights and betas.

  Args:
    setup: the search's :class:`~nasjax.core.bilevel.SearchSetup`.
    state: a :class:`~nasjax.core.state.SearchState`.
    eval_batches: evaluation batches (the alpha half), of one shape, with a
      ``weight`` field; an iterable or a callable returning one.
    recal_batches: batches to re-estimate BN statistics on (the weight half).

  Returns:
    ``discretization/{supernet,derived,derived_recal}_{acc,loss}``,
    ``discretization/gap`` (supernet minus derived accuracy) and
    ``discretization/gap_recal`` (supernet minus recalibrated derived accuracy).
    In a super-resolution space the metric is PSNR (``_psnr``, gaps in dB).
  """
  cfg = setup.config.space
  eval_batches = _reusable(eval_batches)
  bn = "running" if cfg.get("track_running_stats", False) else "batch"
  probs = projection_lib.apply(setup.relaxation.probs(state.alphas), state.projection)
  betas = dict(state.betas or {})
  genotype = setup.space.derive_genotype(jax.device_get(probs), cfg, jax.device_get(betas) or None)
  one_hot = setup.space.genotype_weights(genotype, cfg)
  params, stats = state.params, state.batch_stats
  supernet = evaluate_weights(setup, params, stats, probs, betas, eval_batches, bn)
  derived = evaluate_weights(setup, params, stats, one_hot, {}, eval_batches, bn)
  model, recal_stats = recalibrate_bn(setup, params, one_hot, {}, recal_batches)
  recal = evaluate_weights(
    setup, params, recal_stats, one_hot, {}, eval_batches, "running", model=model
  )
  metric = setup.task.metric
  out = {}
  for name, figures in (("supernet", supernet), ("derived", derived), ("derived_recal", recal)):
    out[f"discretization/{name}_{metric}"] = figures[metric]
    out[f"discretization/{name}_loss"] = figures["loss"]
  out["discretization/gap"] = supernet[metric] - derived[metric]
  out["discretization/gap_recal"] = supernet[metric] - recal[metric]
  return out
