"""Relaxations: how architecture logits alpha become op mixing weights.

A relaxation is a pure function of alpha (plus an rng key and the epoch, for
the stochastic ones). It has two faces:

* ``weights(alphas, rng, train, epoch)``: the mixing weights fed to a
  supernet in one forward pass (sampled by the stochastic relaxations when
  ``train`` is True; ``epoch`` is an int32 scalar, possibly traced, that
  drives temperature schedules);
* ``probs(alphas)``: the deterministic op probabilities used for reporting,
  regularisers acting on probabilities, and genotype derivation.

Both map a pytree of ``(..., num_ops)`` logits (NAS-Bench-201's ``{'cell'}``,
the DARTS space's ``{'normal', 'reduce'}``) to a pytree of the same shape
whose rows lie on the probability simplex. Three are registered, selected
by ``config.relaxation.name``:

* ``softmax`` -- DARTS: ``softmax(alpha / temperature)``, deterministic.
* ``gumbel`` -- SNAS / GDAS: ``softmax((alpha + g) / tau_t)`` with Gumbel
  noise ``g`` and an annealed temperature; ``hard`` makes the forward pass a
  one-hot sample with straight-through gradients.
* ``dirichlet`` -- DrNAS: alpha parameterises Dirichlet concentrations
  ``ELU(alpha) + 1``; training weights are reparameterised Dirichlet samples.

The formulas, defaults and their sources: ``docs/methods.md`` (Relaxations).

Example:
  >>> import jax, jax.numpy as jnp
  >>> from nasjax.core.relax import GumbelSoftmax, Softmax
  >>> Softmax(temperature=1.0).probs({'cell': jnp.zeros((6, 5))})['cell'][0]
  Array([0.2, 0.2, 0.2, 0.2, 0.2], dtype=float32)
  >>> gumbel = GumbelSoftmax(hard=True, total_epochs=50)
  >>> w = gumbel.weights({'cell': jnp.zeros((6, 5))}, jax.random.key(0), True, 0)
  >>> w['cell'].sum(-1).tolist(), sorted(set(w['cell'].ravel().tolist()))
  ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0])
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import ml_collections

from nasjax.errors import ConfigError

Array = jax.Array
PyTree = Any

TAU_SCHEDULES = ("exponential", "linear", "constant")


class Relaxation(Protocol):
  """The interface every relaxation implements.

  Attributes:
    stochastic: whether ``weights`` samples (and so needs an rng) in training.
  """

  stochastic: ClassVar[bool]

  def weights(
    self, alphas: PyTree, rng: jax.Array | None, train: bool, epoch: Array | int
  ) -> PyTree:
    """Mixing weights for one forward pass."""

  def probs(self, alphas: PyTree) -> PyTree:
    """Deterministic op probabilities."""


def _leaf_keys(rng: jax.Array, tree: PyTree) -> PyTree:
  """One independent key per leaf of ``tree`` (in ``jax.tree`` order)."""
  leaves, treedef = jax.tree.flatten(tree)
  return jax.tree.unflatten(treedef, list(jax.random.split(rng, len(leaves))))


def _require_rng(name: str, rng: jax.Array | None) -> None:
  if rng is None:
    raise ValueError(f"the {name} relaxation samples in training mode: pass an rng key")


@dataclasses.dataclass(frozen=True)
class Softmax:
  """DARTS' relaxation: ``softmax(alpha / temperature)`` over the ops of an edge.

  Attributes:
    temperature: positive; 1 is DARTS. Lower values sharpen the mixture.
  """

  temperature: float = 1.0
  stochastic: ClassVar[bool] = False

  def probs(self, alphas: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.nn.softmax(a / self.temperature, axis=-1), alphas)

  def weights(
    self,
    alphas: PyTree,
    rng: jax.Array | None = None,
    train: bool = True,
    epoch: Array | int = 0,
  ) -> PyTree:
    del rng, train, epoch  # deterministic
    return self.probs(alphas)


@dataclasses.dataclass(frozen=True)
class GumbelSoftmax:
  """SNAS' relaxation (arXiv 1812.09926): Gumbel-softmax samples of the op choice.

  In training, every edge's weights are ``softmax((alpha + g) / tau_t)`` with
  ``g`` i.i.d. Gumbel(0, 1) per entry. As ``tau_t -> 0`` a sample tends to the
  one-hot vector of ``argmax(alpha + g)``, which is op ``o`` with probability
  ``softmax(alpha)_o`` (the Gumbel-max property). With ``hard=True`` the
  forward pass uses that one-hot vector and the backward pass the gradient
  of the soft sample (straight-through, as GDAS). Outside training the
  weights are the deterministic ``softmax(alpha)``, which is also ``probs``.

  The temperature follows ``schedule`` over the search, with ``f =
  min(epoch / total_epochs, 1)``:

  * ``exponential``: ``tau_start * (tau_end / tau_start) ** f`` (SNAS anneals
    exponentially);
  * ``linear``: ``tau_start + (tau_end - tau_start) * f`` (GDAS anneals
    linearly from 10 to 0.1: ``tau_start=10, tau_end=0.1, hard=True``);
  * ``constant``: ``tau_start``.

  So ``tau_t`` is ``tau_start`` at epoch 0 and would reach ``tau_end`` at
  epoch ``total_epochs``; the last epoch, ``total_epochs - 1``, runs one step
  of the schedule short of it.

  Attributes:
    tau_start: the initial temperature (default 1.0, chosen here).
    tau_end: the final temperature (default 0.03, chosen here).
    schedule: ``'exponential'`` (default), ``'linear'`` or ``'constant'``.
    hard: straight-through one-hot samples in the forward pass.
    total_epochs: the search length; set by :func:`make_relaxation` from
      ``config.epochs``, not a config field.
  """

  tau_start: float = 1.0
  tau_end: float = 0.03
  schedule: str = "exponential"
  hard: bool = False
  total_epochs: int = 1
  stochastic: ClassVar[bool] = True

  def temperature(self, epoch: Array | int) -> Array:
    """``tau_t`` at (integer) ``epoch``, as a float32 scalar."""
    frac = jnp.clip(jnp.asarray(epoch, jnp.float32) / self.total_epochs, 0.0, 1.0)
    if self.schedule == "constant":
      tau = jnp.full((), self.tau_start)
    elif self.schedule == "linear":
      tau = self.tau_start + (self.tau_end - self.tau_start) * frac
    else:
      tau = self.tau_start * (self.tau_end / self.tau_start) ** frac
    return jnp.asarray(tau, jnp.float32)

  def probs(self, alphas: PyTree) -> PyTree:
    return jax.tree.map(lambda a: jax.nn.softmax(a, axis=-1), alphas)

  def sample(self, alphas: PyTree, rng: jax.Array, tau: Array | float) -> PyTree:
    """Gumbel-softmax samples at temperature ``tau`` (one-hot forward if ``hard``)."""

    def one(a: Array, key: jax.Array) -> Array:
      g = jax.random.gumbel(key, a.shape, a.dtype)
      soft = jax.nn.softmax((a + g) / jnp.asarray(tau, a.dtype), axis=-1)
      if not self.hard:
        return soft
      onehot = jax.nn.one_hot(jnp.argmax(soft, axis=-1), a.shape[-1], dtype=a.dtype)
      return onehot + (soft - jax.lax.stop_gradient(soft))  # exactly one-hot forward

    return jax.tree.map(one, alphas, _leaf_keys(rng, alphas))

  def weights(
    self,
    alphas: PyTree,
    rng: jax.Array | None = None,
    train: bool = True,
    epoch: Array | int = 0,
  ) -> PyTree:
    if not train:
      return self.probs(alphas)
    _require_rng("gumbel", rng)
    return self.sample(alphas, rng, self.temperature(epoch))


@dataclasses.dataclass(frozen=True)
class Dirichlet:
  """DrNAS' relaxation (arXiv 2006.10355): op weights drawn from a Dirichlet.

  alpha (called theta in DrNAS) sets each edge's concentration
  ``conc = ELU(alpha) + 1 > 0``. In training the weights are reparameterised
  samples ``Dir(conc)`` (JAX's gamma sampler carries implicit
  reparameterisation gradients, so ``jax.grad`` reaches alpha through the
  sample); outside training they are the Dirichlet mean ``conc / sum(conc)``,
  which is also ``probs``. Its KL regulariser towards ``Dir(1)`` is
  :func:`nasjax.core.regularizers.dirichlet_kl` (``config.regularizers.dirichlet_kl``).
  """

  stochastic: ClassVar[bool] = True

  @staticmethod
  def concentration(alphas: PyTree) -> PyTree:
    """``ELU(alpha) + 1`` for every leaf."""
    return jax.tree.map(lambda a: jax.nn.elu(a) + 1.0, alphas)

  def probs(self, alphas: PyTree) -> PyTree:
    return jax.tree.map(
      lambda c: c / jnp.sum(c, axis=-1, keepdims=True), self.concentration(alphas)
    )

  def weights(
    self,
    alphas: PyTree,
    rng: jax.Array | None = None,
    train: bool = True,
    epoch: Array | int = 0,
  ) -> PyTree:
    del epoch
    if not train:
      return self.probs(alphas)
    _require_rng("dirichlet", rng)
    conc = self.concentration(alphas)
    return jax.tree.map(
      lambda c, key: jax.random.dirichlet(key, c, dtype=c.dtype), conc, _leaf_keys(rng, conc)
    )


RELAXATIONS: dict[str, type] = {
  "softmax": Softmax,
  "gumbel": GumbelSoftmax,
  "dirichlet": Dirichlet,
}
#: Dataclass fields that come from the search, not from ``config.relaxation``.
_SET_BY_SEARCH = ("total_epochs",)


def _config_fields(cls: type) -> dict[str, Any]:
  return {f.name: f.default for f in dataclasses.fields(cls) if f.name not in _SET_BY_SEARCH}


def relaxation_config(name: str, **fields: Any) -> ml_collections.ConfigDict:
  """A ``config.relaxation`` block for ``name`` with its defaults, updated by ``fields``.

  Example:
    >>> relaxation_config('gumbel', hard=True).to_dict()
    {'hard': True, 'name': 'gumbel', 'schedule': 'exponential', 'tau_end': 0.03, 'tau_start': 1.0}

  Raises:
    ConfigError: for an unknown name or field.
  """
  if name not in RELAXATIONS:
    raise ConfigError(f"unknown relaxation {name!r}; choose one of {sorted(RELAXATIONS)}")
  defaults = _config_fields(RELAXATIONS[name])
  unknown = sorted(set(fields) - set(defaults))
  if unknown:
    raise ConfigError(
      f"relaxation {name!r} has no field(s) {unknown}; its fields are {sorted(defaults)}"
    )
  return ml_collections.ConfigDict({"name": name, **defaults, **fields})


def _validate(name: str, relaxation: Any) -> None:
  where = "config.relaxation"
  if name == "softmax" and not relaxation.temperature > 0:
    raise ConfigError(f"{where}.temperature must be positive, got {relaxation.temperature}")
  if name == "gumbel":
    for field in ("tau_start", "tau_end"):
      value = getattr(relaxation, field)
      if not (isinstance(value, (int, float)) and value > 0):
        raise ConfigError(f"{where}.{field} must be a positive number, got {value!r}")
    if relaxation.schedule not in TAU_SCHEDULES:
      raise ConfigError(
        f"{where}.schedule must be one of {list(TAU_SCHEDULES)}, got {relaxation.schedule!r}"
      )
    if not isinstance(relaxation.hard, bool):
      raise ConfigError(f"{where}.hard must be True or False, got {relaxation.hard!r}")


def make_relaxation(config: Any, total_epochs: int = 1) -> Relaxation:
  """Builds the relaxation named by ``config.name`` from its fields.

  Args:
    config: a ConfigDict (or mapping) with ``name`` and the relaxation's
      fields, e.g. ``{'name': 'softmax', 'temperature': 1.0}`` or
      ``{'name': 'gumbel', 'tau_start': 1.0, 'tau_end': 0.03, 'schedule':
      'exponential', 'hard': False}`` (see :func:`relaxation_config`).
    total_epochs: the search length (``config.epochs``), for temperature
      schedules.

  Raises:
    ConfigError: for an unknown name or field, or an invalid field value.
  """
  fields = dict(config)
  name = fields.pop("name", None)
  if name not in RELAXATIONS:
    raise ConfigError(
      f"unknown relaxation {name!r} (config.relaxation.name); choose one of {sorted(RELAXATIONS)}"
    )
  cls = RELAXATIONS[name]
  known = set(_config_fields(cls))
  unknown = sorted(set(fields) - known)
  if unknown:
    raise ConfigError(
      f"relaxation {name!r} has no field(s) {unknown} (config.relaxation); "
      f"its fields are {sorted(known)}"
    )
  if not (isinstance(total_epochs, int) and total_epochs >= 1):
    raise ConfigError(f"config.epochs must be an integer >= 1, got {total_epochs!r}")
  if "total_epochs" in {f.name for f in dataclasses.fields(cls)}:
    fields["total_epochs"] = total_epochs
  relaxation = cls(**fields)
  _validate(name, relaxation)
  return relaxation
