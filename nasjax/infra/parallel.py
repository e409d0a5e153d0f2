"""Data parallelism over a device mesh: one program on one CPU, eight GPUs or a pod.

A run lays its devices out as a 1-D mesh with one axis, ``data``
(:data:`DATA_AXIS`). The search or training state (weights, alpha,
optimiser moments, BN statistics) is replicated on every device; each batch
is split along its batch axis across the devices. The step is the same jitted
function as on one device: given these input shardings, XLA partitions it and
inserts the all-reduces, so a mean over the batch, the BN statistics included,
is a mean over the *global* batch, and the result does not depend on the
number of devices (up to the order of float additions).

In a multi-process run (:mod:`nasjax.infra.distributed`) the mesh spans the devices
of every process; each process loads only its own rows of every global batch
(the data classes take ``process_index`` / ``process_count``) and
:func:`put_batch` assembles the global array from them.

Example::

  mesh = parallel.make_mesh()
  state = parallel.put_replicated(state, mesh)
  step = jax.jit(setup.step, donate_argnums=0)
  state, metrics = step(state, parallel.put_batch(train, mesh), parallel.put_batch(val, mesh))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nasjax.errors import ConfigError

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named ``data`` over ``devices`` (default: every device of every process)."""
  devices = list(jax.devices() if devices is None else devices)
  return Mesh(np.asarray(devices, dtype=object), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding of values every device holds whole (state, alpha, metrics)."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, leading: int = 0) -> NamedSharding:
  """Split axis ``leading`` (the batch axis; 1 under a leading seed axis) over ``data``."""
  return NamedSharding(mesh, P(*([None] * leading), DATA_AXIS))


def check_batch(batch_size: int, mesh: Mesh, what: str = "config.batch_size") -> None:
  """Refuses a global batch that the mesh's devices cannot share equally.

  Raises:
    ConfigError: naming the batch size, the device count and the nearest fixes.
  """
  n = mesh.devices.size
  if batch_size % n:
    lower = max(n, batch_size // n * n)
    raise ConfigError(
      f"{what}={batch_size} cannot be split evenly over {n} devices; use a multiple of {n} "
      f"(e.g. {lower} or {lower + n})"
    )


def _put(x: Any, sharding: NamedSharding) -> jax.Array:
  if isinstance(x, jax.Array) and x.sharding == sharding:
    return x
  if isinstance(x, jax.Array) and x.is_fully_addressable and jax.process_count() == 1:
    return jax.device_put(x, sharding)
  return jax.make_array_from_process_local_data(sharding, np.asarray(x))


def put_replicated(tree: Any, mesh: Mesh) -> Any:
  """``tree`` as global arrays replicated over ``mesh``.

  Every process must pass the same values (the same seed gives the same
  initialisation; a checkpoint restores the same state everywhere).
  """
  sharding = replicated(mesh)
  return jax.tree.map(lambda x: _put(x, sharding), tree)


def put_batch(batch: Any, mesh: Mesh, leading: int = 0) -> Any:
  """This process's rows of a batch as global arrays split over ``data``.

  Args:
    batch: a pytree of arrays whose axis ``leading`` holds this process's
      share of the global batch (all of it in a single-process run).
    mesh: the mesh from :func:`make_mesh`.
    leading: the batch axis (1 for batches stacked over seeds or steps).
  """
  sharding = batch_sharding(mesh, leading)
  return jax.tree.map(lambda x: _put(x, sharding), batch)


def host_copy(tree: Any) -> Any:
  """A numpy copy of a tree of replicated (or single-device) arrays, on every process."""

  def fetch(x: Any) -> Any:
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return np.asarray(x.addressable_data(0))  # replicated: any local shard is the whole
    return np.asarray(x)

  return jax.tree.map(fetch, tree)


def local_view(tree: Any) -> Any:
  """``tree`` itself in a single-process run, else a host copy (see :func:`host_copy`).

  For computations each process runs alone on its own devices (evaluation,
  end-of-epoch measurements), which cannot take arrays spanning other
  processes' devices.
  """
  return tree if jax.process_count() == 1 else host_copy(tree)


def prefetch(batches: Iterable[Any], put: Any, size: int = 2) -> Iterator[Any]:
  """Yields ``put(batch)`` for each batch, keeping ``size`` batches already on the devices.

  Transfers are asynchronous, so the next batches travel while the current
  step runs.
  """
  queue: list[Any] = []
  iterator = iter(batches)
  for batch in iterator:
    queue.append(put(batch))
    if len(queue) >= size:
      break
  for batch in iterator:
    yield queue.pop(0)
    queue.append(put(batch))
  yield from queue
