"""The strength ``lambda_t`` of a regulariser as a function of the epoch.

Schedules (``t`` is the integer epoch, from 0):

* ``constant``: ``lambda_t = strength``.
* ``linear``: from ``start`` at epoch 0 to ``strength`` at epoch
  ``ramp_epochs`` (0 = the whole search, resolved from the search's own
  length) and flat after: ``lambda_t = start + (strength - start) *
  min(t / ramp_epochs, 1)``.
* ``slope``: ``lambda_t = start + slope * t``, a fixed increase per epoch
  whatever the search length: the form the papers report. SA-DARTS'
  ``epoch / 5`` is ``slope=0.2``; Beta-DARTS' ``50 * epoch / 100`` is
  ``slope=0.5``. ``strength`` and ``ramp_epochs`` are not used by it and
  must stay 0 (a value there is an error, not silently ignored); ``slope``
  is not used by the other two.

Both ``ramp_epochs=0`` and ``slope`` are resolved when the search is built,
so they follow ``--config.epochs`` and the ``runlocal`` variants;
:func:`schedule_values` gives the resolved per-epoch strengths and
:func:`describe_schedule` the line a search prints when it starts.

Example:
  >>> from nasjax.core.schedules import describe_schedule, schedule_values
  >>> schedule_values({'schedule': 'slope', 'slope': 0.2}, 4)
  [0.0, 0.2, 0.4, 0.6000000000000001]
  >>> describe_schedule({'schedule': 'slope', 'slope': 0.5}, 100)
  'lambda_t = 0.5 * epoch (0 at epoch 0, 49.5 at epoch 99)'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array

SCHEDULES = ("constant", "linear", "slope")
#: The fields that define a regulariser's strength schedule.
SCHEDULE_FIELDS = ("schedule", "strength", "start", "ramp_epochs", "slope")


def schedule(
  kind: str, strength: float, start: float = 0.0, ramp_epochs: float = 1.0, slope: float = 0.0
) -> Callable[[Array], Array]:
  """The strength ``lambda_t`` as a function of the (integer) epoch ``t``.

  Args:
    kind: ``constant``, ``linear`` or ``slope`` (see the module docstring).
    strength: the constant, or the end value of the linear ramp.
    start: the value at epoch 0 (``linear``, ``slope``).
    ramp_epochs: the length of the linear ramp, in epochs.
    slope: the increase per epoch of ``slope``.
  """
  if kind == "constant":
    return lambda epoch: jnp.asarray(strength, jnp.float32)
  if kind == "slope":
    return lambda epoch: jnp.asarray(start + slope * jnp.asarray(epoch, jnp.float32), jnp.float32)

  def linear(epoch: Array) -> Array:
    frac = jnp.minimum(jnp.asarray(epoch, jnp.float32) / ramp_epochs, 1.0)
    return jnp.asarray(start + (strength - start) * frac, jnp.float32)

  return linear


def schedule_args(cfg: Mapping[str, Any], total_epochs: int) -> dict[str, Any]:
  """The arguments of :func:`schedule` for one regulariser's fields, ``ramp_epochs`` resolved."""
  return dict(
    kind=cfg.get("schedule", "constant"),
    strength=float(cfg.get("strength", 0.0)),
    start=float(cfg.get("start", 0.0)),
    ramp_epochs=float(cfg.get("ramp_epochs", 0) or total_epochs),
    slope=float(cfg.get("slope", 0.0) or 0.0),
  )


def schedule_values(cfg: Mapping[str, Any], total_epochs: int) -> list[float]:
  """``lambda_t`` of one regulariser's config for every epoch ``t = 0 .. total_epochs - 1``.

  Computed in float64 on the host (the search evaluates the same formula in
  float32). Two configs whose values agree run the same schedule, whatever
  fields express it (e.g. ``linear`` to 10 over 50 epochs and ``slope=0.2``).

  Example:
    >>> schedule_values({'schedule': 'slope', 'slope': 0.2}, 4)
    [0.0, 0.2, 0.4, 0.6000000000000001]
  """
  a = schedule_args(cfg, total_epochs)
  out = []
  for t in range(total_epochs):
    if a["kind"] == "constant":
      out.append(a["strength"])
    elif a["kind"] == "slope":
      out.append(a["start"] + a["slope"] * t)
    else:
      out.append(a["start"] + (a["strength"] - a["start"]) * min(t / a["ramp_epochs"], 1.0))
  return out


def describe_schedule(cfg: Mapping[str, Any], total_epochs: int) -> str:
  """The resolved schedule of one regulariser's config, as a run prints it.

  Example:
    >>> describe_schedule({'schedule': 'slope', 'slope': 0.5}, 100)
    'lambda_t = 0.5 * epoch (0 at epoch 0, 49.5 at epoch 99)'
  """
  a = schedule_args(cfg, total_epochs)
  values = schedule_values(cfg, total_epochs)
  if a["kind"] == "constant":
    return f"lambda = {a['strength']:g} (constant)"
  offset = f"{a['start']:g} + " if a["start"] else ""
  if a["kind"] == "slope":
    form = f"lambda_t = {offset}{a['slope']:g} * epoch"
  else:
    rise = a["strength"] - a["start"]
    form = f"lambda_t = {offset}{rise:g} * min(epoch / {a['ramp_epochs']:g}, 1)"
  last = total_epochs - 1
  return f"{form} ({values[0]:.4g} at epoch 0, {values[-1]:.4g} at epoch {last})"
