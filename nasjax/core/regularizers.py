"""Regularisers of the architecture parameters: one registered :class:`Penalty` each.

Every regulariser is a pure function of alpha (a pytree of ``(edges, ops)``
logits); its strength ``lambda_t`` is a pure function of the epoch. Both are
traceable, so they run inside the jitted search step. Edge-normalisation
logits (betas) are never regularised: the search passes alpha only.

Penalties (``z`` is alpha's logits, or the relaxation's probabilities when a
regulariser's ``apply_to`` is ``'probs'``):

* ``sa`` -- smooth activation, Eq. 7 of "Regularizing Differentiable
  Architecture Search with Smooth Activation":
  ``sum_e sum_o [(1+a) z + (1-a) z erf(mu (1-a) z)] / 2``. ``mu -> inf``
  gives a leaky ReLU of negative slope ``a``; ``a = 0, mu = 1/sqrt(2)``
  gives GELU; ``a = 1`` (or ``mu = 0``, up to the factor ``(1+a)/2``) gives
  Eq. 8, ``sum z``, the default. Softmax is shift-invariant, so Eq. 8 moves
  the op probabilities only through Adam's per-coordinate scaling.
* ``beta_decay`` -- Beta-DARTS: ``mean_e logsumexp_o z_eo`` (summed over
  alpha tensors, e.g. normal and reduction cells).
* ``entropy`` -- ``sum_e H(p_e)`` with ``p_e = softmax(z_e)`` on logits or
  ``p_e = z_e`` on probabilities.
* ``l2`` -- ``sum z^2 / 2`` (its gradient is ``z``, like coupled decay).
  DrNAS' ``'l2'`` variant is this coupled L2 on its logits theta (or, the
  same gradient, the alpha optimiser's ``weight_decay``).
* ``dirichlet_kl`` -- DrNAS: ``sum_e KL(Dir(ELU(z_e) + 1) || Dir(1))``, the
  KL divergence of each edge's Dirichlet (see :class:`nasjax.core.relax.Dirichlet`)
  from the uniform one, in closed form. Logits only.
* ``flops`` -- the FLOPs-constrained alpha loss of super-resolution search:
  ``sum_e sum_o p_eo * FLOPs_eo``, with each candidate's multiply-adds (in
  units of 1e9, GMAC) from the space's ``op_costs`` (counted for a 1280x720
  output). Probabilities only; spaces without op costs reject it.

``tensors`` (optional, every regulariser): the names of the alpha tensors a
term acts on, e.g. ``('cell',)`` or the trellis space's network-level
``('network2', 'network3')``; empty or absent = all of them.

``reduction='mean'`` replaces the sums over edges (and ops, for ``sa`` and
``l2``) by means.

The strength schedules (``constant``, ``linear``, ``slope``) are those of
:mod:`nasjax.core.schedules`.

The formulas, defaults and their sources: ``docs/methods.md`` (Regularisers of alpha).

Example:
  >>> import jax.numpy as jnp
  >>> from nasjax.core import regularizers as R
  >>> float(R.sa_penalty(jnp.array([[1.0, -2.0]]), a=1.0, mu=0.0))
  -1.0
  >>> float(R.beta_decay(jnp.zeros((6, 5))))  # log(5)
  1.6094379...
  >>> float(R.dirichlet_kl(jnp.zeros((6, 5))))  # ELU(0) + 1 = 1: already Dir(1)
  0.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.core.schedules import SCHEDULES, schedule, schedule_args
from nasjax.errors import ConfigError

Array = jax.Array
PyTree = Any

APPLY_TO = ("logits", "probs")
REDUCTIONS = ("sum", "mean")


def smooth_activation(x: Array, a: float = 1.0, mu: float = 0.0) -> Array:
  """The SA function ``[(1+a) x + (1-a) x erf(mu (1-a) x)] / 2`` (Eq. 7)."""
  return 0.5 * ((1.0 + a) * x + (1.0 - a) * x * jax.scipy.special.erf(mu * (1.0 - a) * x))


def _reduce(x: Array, reduction: str) -> Array:
  return jnp.mean(x) if reduction == "mean" else jnp.sum(x)


def sa_penalty(z: Array, a: float = 1.0, mu: float = 0.0, reduction: str = "sum") -> Array:
  """Smooth-activation penalty of one ``(edges, ops)`` tensor."""
  return _reduce(smooth_activation(z, a, mu), reduction)


def beta_decay(z: Array) -> Array:
  """Beta-DARTS' penalty: the mean over edges of ``logsumexp`` over ops."""
  return jnp.mean(jax.nn.logsumexp(z, axis=-1))


def entropy(p: Array, reduction: str = "sum") -> Array:
  """Sum (or mean) over edges of the Shannon entropy of each row of ``p``."""
  h = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
  return _reduce(h, reduction)


def l2(z: Array, reduction: str = "sum") -> Array:
  """Half the sum (or mean) of squares."""
  return 0.5 * _reduce(jnp.square(z), reduction)


def dirichlet_kl(theta: Array, reduction: str = "sum") -> Array:
  """Sum (or mean) over edges of ``KL(Dir(c) || Dir(1))`` with ``c = ELU(theta) + 1``.

  With ``c0 = sum_o c_o`` and ``K`` ops, the closed form is
  ``lgamma(c0) - sum_o lgamma(c_o) - lgamma(K) + sum_o (c_o - 1) (digamma(c_o)
  - digamma(c0))``; every axis but the last indexes edges.
  """
  c = jax.nn.elu(theta) + 1.0
  c0 = jnp.sum(c, axis=-1)
  k = theta.shape[-1]
  lgamma, digamma = jax.scipy.special.gammaln, jax.scipy.special.digamma
  kl = (
    lgamma(c0)
    - jnp.sum(lgamma(c), axis=-1)
    - lgamma(jnp.asarray(k, c.dtype))
    + jnp.sum((c - 1.0) * (digamma(c) - digamma(c0)[..., None]), axis=-1)
  )
  return _reduce(kl, reduction)


#: The unit of ``flops`` costs: multiply-adds are divided by this.
FLOPS_UNIT = 1e9


def flops_penalty(probs: PyTree, costs: Mapping[str, Any]) -> Array:
  """``sum_name sum_e sum_o p[name]_eo * costs[name]_eo / FLOPS_UNIT``: the expected GMAC."""
  return sum(
    jnp.sum(probs[k] * jnp.asarray(np.asarray(costs[k]) / FLOPS_UNIT, probs[k].dtype))
    for k in sorted(costs)
  )


def leafwise(penalty: Callable[[Array], Array]) -> Callable[[PyTree], Array]:
  """The penalty of a whole alpha pytree: the sum of ``penalty`` over its tensors."""
  return lambda tree: sum(penalty(z) for z in jax.tree.leaves(tree))


@dataclasses.dataclass(frozen=True)
class Penalty:
  """One regulariser: its penalty, where it may act, and its config fields.

  Attributes:
    name: its key in ``config.regularizers``.
    build: ``(fields, costs) -> P``, the penalty of a whole alpha (or
      probability) pytree from the regulariser's config fields (with
      ``apply_to`` filled in) and the space's candidate costs (None where
      the space has none).
    fields: the regulariser's own fields and their defaults (e.g. SA's
      ``a``, ``mu`` and ``reduction``).
    defaults: its defaults of the common fields (:data:`COMMON_DEFAULTS`),
      e.g. a ``slope`` schedule or ``apply_to='probs'``.
    apply_to: what it may act on: ``logits``, ``probs`` or both.
    needs_costs: it weights the space's candidate costs
      (:attr:`nasjax.spaces.base.SearchSpace.op_costs`); spaces without them
      reject it.
    check: ``(fields, where) -> None``, raises ConfigError for an impossible
      value of its own fields; None for no check.
  """

  name: str
  build: Callable[[Mapping[str, Any], Mapping[str, Any] | None], Callable[[PyTree], Array]]
  fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  apply_to: tuple[str, ...] = APPLY_TO
  needs_costs: bool = False
  check: Callable[[Mapping[str, Any], str], None] | None = None

  def default_config(self) -> dict[str, Any]:
    """The ``config.regularizers.<name>`` block: off, with every field at its default."""
    return {**COMMON_DEFAULTS, **self.defaults, **self.fields}


#: The common fields of every regulariser and their defaults (``tensors`` is optional).
COMMON_DEFAULTS: dict[str, Any] = dict(
  enabled=False,
  schedule="constant",
  strength=0.0,
  start=0.0,
  ramp_epochs=0,
  slope=0.0,
  apply_to="logits",
)
COMMON_FIELDS = (*COMMON_DEFAULTS, "tensors")

#: Every registered regulariser, by name, in the order of ``config.regularizers``.
PENALTIES: dict[str, Penalty] = {}


def register_regularizer(penalty: Penalty, replace: bool = False) -> Penalty:
  """Adds ``penalty`` to the registry (and so to :func:`default_regularizers`), and returns it.

  Raises:
    ValueError: if another regulariser has that name (unless ``replace``).
  """
  if penalty.name in PENALTIES and PENALTIES[penalty.name] is not penalty and not replace:
    raise ValueError(f"a regulariser named {penalty.name!r} is registered already")
  PENALTIES[penalty.name] = penalty
  return penalty


def default_regularizers() -> dict[str, dict[str, Any]]:
  """``config.regularizers`` of a new search config: every registered regulariser, off."""
  return {name: penalty.default_config() for name, penalty in PENALTIES.items()}


def _check_sa(cfg: Mapping[str, Any], where: str) -> None:
  if not cfg.get("mu", 0.0) >= 0:
    raise ConfigError(f"{where}.mu (smoothness) must be >= 0, got {cfg['mu']}")


def _entropy(cfg: Mapping[str, Any], costs: Any) -> Callable[[PyTree], Array]:
  reduction = cfg.get("reduction", "sum")
  if cfg["apply_to"] == "logits":
    return leafwise(lambda z: entropy(jax.nn.softmax(z, axis=-1), reduction))
  return leafwise(lambda z: entropy(z, reduction))


for _penalty in (
  Penalty(
    "sa",
    lambda cfg, costs: leafwise(
      lambda z: sa_penalty(z, cfg["a"], cfg["mu"], cfg.get("reduction", "sum"))
    ),
    fields=dict(a=1.0, mu=0.0, reduction="sum"),
    defaults=dict(schedule="slope", slope=0.2),
    check=_check_sa,
  ),
  Penalty(
    "beta_decay",
    lambda cfg, costs: leafwise(beta_decay),
    defaults=dict(schedule="slope", slope=0.5),
  ),
  Penalty("entropy", _entropy, fields=dict(reduction="sum"), defaults=dict(apply_to="probs")),
  Penalty(
    "l2",
    lambda cfg, costs: leafwise(lambda z: l2(z, cfg.get("reduction", "sum"))),
    fields=dict(reduction="sum"),
  ),
  Penalty(
    "dirichlet_kl",
    lambda cfg, costs: leafwise(lambda z: dirichlet_kl(z, cfg.get("reduction", "sum"))),
    fields=dict(reduction="sum"),
    defaults=dict(strength=1e-3),
    apply_to=("logits",),
  ),
  Penalty(
    "flops",
    lambda cfg, costs: lambda tree: flops_penalty(tree, costs),
    defaults=dict(strength=1e-3, apply_to="probs"),
    apply_to=("probs",),
    needs_costs=True,
  ),
):
  register_regularizer(_penalty)


@dataclasses.dataclass(frozen=True)
class Regularizer:
  """A weighted sum of alpha penalties: ``R(alphas, epoch) = sum_k lambda_k(epoch) P_k(z_k)``.

  Call it as ``total, parts = reg(alphas, epoch)``; ``parts`` maps
  ``'reg/<name>'`` to each weighted term and ``'reg/<name>_lambda'`` to its
  strength, for logging.
  """

  terms: tuple[tuple[str, Callable[[Array], Array], Callable[[Array], Array], str], ...]
  probs: Callable[[PyTree], PyTree]
  tensors: tuple[tuple[str, ...], ...] = ()

  def __call__(self, alphas: PyTree, epoch: Array) -> tuple[Array, dict[str, Array]]:
    total = jnp.zeros((), jnp.float32)
    parts: dict[str, Array] = {}
    probs = self.probs(alphas) if any(t[3] == "probs" for t in self.terms) else None
    selected = self.tensors or ((),) * len(self.terms)
    for (name, penalty, lam_fn, apply_to), keep in zip(self.terms, selected, strict=True):
      source = probs if apply_to == "probs" else alphas
      if keep:
        source = {k: v for k, v in dict(source).items() if k in keep}
      value = penalty(source)
      lam = lam_fn(epoch)
      term = lam * value
      parts[f"reg/{name}"] = term
      parts[f"reg/{name}_lambda"] = lam
      total = total + term
    return total, parts

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(t[0] for t in self.terms)


def make_regularizer(
  config: Mapping[str, Any],
  total_epochs: int,
  probs: Callable[[PyTree], PyTree],
  costs: Mapping[str, Any] | None = None,
) -> Regularizer:
  """Builds the enabled regularisers of ``config`` (``config.regularizers``).

  Args:
    config: maps a registered regulariser's name (``sa``, ``beta_decay``,
      ``entropy``, ``l2``, ``dirichlet_kl``, ``flops``, ...) to its fields:
      ``enabled``, ``schedule``, ``strength``, ``start``, ``ramp_epochs``
      (0 = ``total_epochs``), ``slope``, ``apply_to``, ``tensors`` and the
      regulariser's own fields (:attr:`Penalty.fields`).
    total_epochs: the search length, the default ramp of linear schedules.
    probs: the relaxation's deterministic probabilities, for ``apply_to='probs'``.
    costs: the space's multiply-adds per candidate, ``{name: (E, O)}``, for
      ``flops`` (:attr:`nasjax.spaces.SearchSpace.op_costs`); None where the
      space has none.

  Raises:
    ConfigError: naming the offending field and the values it accepts.
  """
  terms, tensors = [], []
  for name, cfg in dict(config).items():
    cfg = dict(cfg)
    if name not in PENALTIES:
      raise ConfigError(
        f"unknown regulariser config.regularizers.{name}; choose from {sorted(PENALTIES)}"
      )
    penalty = PENALTIES[name]
    allowed = set(COMMON_FIELDS) | set(penalty.fields)
    unknown = sorted(set(cfg) - allowed)
    if unknown:
      raise ConfigError(
        f"config.regularizers.{name} has no field(s) {unknown}; its fields are {sorted(allowed)}"
      )
    where = f"config.regularizers.{name}"
    kind = cfg.get("schedule", "constant")
    if kind not in SCHEDULES:
      raise ConfigError(f"{where}.schedule must be one of {list(SCHEDULES)}, got {kind!r}")
    apply_to = cfg.get("apply_to", "logits")
    if apply_to not in APPLY_TO:
      raise ConfigError(f"{where}.apply_to must be one of {list(APPLY_TO)}, got {apply_to!r}")
    if apply_to not in penalty.apply_to:
      why = (
        "it is a function of them" if apply_to == "probs" else "it weights costs by probabilities"
      )
      raise ConfigError(
        f"{where}.apply_to must be {penalty.apply_to[0]!r} ({why}), got {apply_to!r}"
      )
    if cfg.get("reduction", "sum") not in REDUCTIONS:
      raise ConfigError(
        f"{where}.reduction must be one of {list(REDUCTIONS)}, got {cfg['reduction']!r}"
      )
    if penalty.check is not None:
      penalty.check(cfg, where)
    ramp = cfg.get("ramp_epochs", 0) or total_epochs
    if ramp <= 0:
      raise ConfigError(f"{where}.ramp_epochs must be >= 0, got {cfg.get('ramp_epochs')}")
    if kind == "slope":
      for field in ("strength", "ramp_epochs"):
        if cfg.get(field, 0):
          raise ConfigError(
            f"{where}.{field}={cfg[field]!r} is not used by schedule='slope' (lambda_t = start + "
            f"slope * epoch); set {where}.slope (the increase per epoch) and {field}=0, or "
            f"schedule='linear'"
          )
    if not cfg.get("enabled", True):  # checked all the same: a typo is an error either way
      continue
    if penalty.needs_costs and not costs:
      raise ConfigError(
        f"config.regularizers.{name} needs candidate costs, which only the super-resolution "
        f"spaces (imdn, dlsr) define; set --config.regularizers.{name}.enabled=False"
      )
    cfg = {**penalty.fields, **cfg, "apply_to": apply_to}
    lam = schedule(**schedule_args(cfg, total_epochs))
    terms.append((name, penalty.build(cfg, costs), lam, apply_to))
    tensors.append(tuple(cfg.get("tensors", ()) or ()))
  return Regularizer(tuple(terms), probs, tuple(tensors))
