"""Checkpoints of a search, through orbax's CheckpointManager.

A checkpoint holds the whole :class:`~nasjax.core.state.SearchState` (weights,
BN statistics, alpha, both optimiser states, the step, which fixes the
schedules and the data position, and the rng) plus a small JSON record.
Orbax writes each checkpoint into a temporary folder and renames it when
complete, so a process killed mid-save leaves no checkpoint that a later run
could mistake for a finished one.

The state is copied to host memory before an (asynchronous) save starts, so
the jitted step may donate its device buffers while the save is running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from nasjax.errors import NasjaxError


class CheckpointError(NasjaxError, RuntimeError):
  """A checkpoint cannot be read, or does not fit the run being resumed."""


def _quiet_orbax() -> None:
  # orbax logs every save and restore at INFO through absl; keep the terminal for the run.
  for name in ("absl", "orbax"):
    logging.getLogger(name).setLevel(logging.WARNING)


class Checkpointer:
  """Saves and restores search states in ``directory``.

  Args:
    directory: the checkpoint folder (created if missing).
    keep: how many of the most recent checkpoints to keep.
    async_save: write in a background thread (the training step continues).
  """

  def __init__(self, directory: str | Path, keep: int = 3, async_save: bool = True):
    _quiet_orbax()
    self.directory = Path(directory).absolute()
    options = ocp.CheckpointManagerOptions(
      max_to_keep=keep,
      create=True,
      cleanup_tmp_directories=True,
      enable_async_checkpointing=async_save,
    )
    self._manager = ocp.CheckpointManager(
      self.directory, options=options, item_names=("state", "meta")
    )

  def all_steps(self) -> list[int]:
    """Steps of the finished checkpoints, oldest first."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
    """Starts saving ``state`` as checkpoint ``step`` (returns before the write ends)."""
    host_state = jax.tree.map(np.array, jax.device_get(state))
    self._manager.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(host_state), meta=ocp.args.JsonSave(meta)
      ),
      force=True,
    )

  def restore(
    self, step: int, target: Any, renamed: Mapping[str, str] | None = None
  ) -> tuple[Any, dict[str, Any]]:
    """Checkpoint ``step``, shaped and placed like ``target``.

    Args:
      step: the checkpoint's step.
      target: a state of the layout to restore into.
      renamed: ``{old key: key}`` of dict keys renamed since checkpoints were
        written (a space's ``renamed_alphas``): a key of ``target`` missing
        from the checkpoint is read from its old name.

    Raises:
      CheckpointError: if it cannot be read or its arrays do not match ``target``.
    """
    where = self.directory / str(step)
    with _stderr_held():  # orbax's event-loop threads print tracebacks for unreadable files
      try:
        restored = self._manager.restore(
          step,
          args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()
          ),
        )
      except Exception as e:  # orbax raises many types for unreadable or mismatched data
        older = self._restore_by_path(step, target, renamed or {})
        if older is not None:
          return older
        if self._readable(step):
          raise CheckpointError(
            f"checkpoint {where} does not fit this search (its arrays are laid out "
            f"differently); resume with the config it was written with, or use a new --workdir"
          ) from None
        raise CheckpointError(
          f"checkpoint {where} cannot be restored ({_reason(e)}); delete that folder to "
          f"resume from the previous checkpoint, or start over in a new --workdir"
        ) from None
    state = restored["state"]
    mismatch = _first_mismatch(state, target)
    if mismatch:
      raise CheckpointError(
        f"checkpoint {where} does not fit this search ({mismatch}); resume with the config "
        f"it was written with, or use a new --workdir"
      )
    return state, dict(restored["meta"])

  def _restore_by_path(
    self, step: int, target: Any, renamed: Mapping[str, str]
  ) -> tuple[Any, dict[str, Any]] | None:
    """Checkpoint ``step`` read leaf by leaf into ``target``'s layout, or None if it does not fit.

    A state written before a field was added to it (an empty one, such as
    :attr:`~nasjax.core.state.SearchState.projection`) or before a key was
    renamed (``renamed``: ``{old: new}``) has a different tree but the same
    arrays: each leaf of ``target`` is looked up by its path.
    """
    try:
      raw = self._manager.restore(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()),
      )
      leaves, treedef = jax.tree_util.tree_flatten_with_path(target)
      found = [_lookup(raw["state"], path, renamed) for path, _ in leaves]
      state = jax.tree.unflatten(treedef, found)
    except Exception:  # any missing key, index or unreadable array: it does not fit
      return None
    if _first_mismatch(state, target):
      return None
    return state, dict(raw["meta"])

  def _readable(self, step: int) -> bool:
    """Whether checkpoint ``step`` restores without a target (i.e. it is intact)."""
    try:
      self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    except Exception:  # unreadable for any reason
      return False
    return True

  def wait(self) -> None:
    """Blocks until pending saves are on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


@contextlib.contextmanager
def _stderr_held() -> Iterator[None]:
  """Holds what is written to the process's stderr (file descriptor 2) back while inside.

  orbax restores through asyncio in background threads; on an unreadable
  file they print "Event loop is closed" tracebacks straight to stderr. What
  they wrote is dropped when the body succeeds or raises a
  :class:`CheckpointError` (whose sentence says what is wrong), and written
  out after any other error.
  """
  try:
    sys.stderr.flush()
    saved = os.dup(2)
  except (OSError, ValueError):  # no real stderr (e.g. captured in a notebook)
    yield
    return
  with tempfile.TemporaryFile() as held:
    os.dup2(held.fileno(), 2)
    try:
      yield
    except CheckpointError:
      raise
    except BaseException:
      _release(saved, held)
      saved = -1
      raise
    finally:
      if saved >= 0:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _release(saved: int, held: Any) -> None:
  """Restores stderr and writes out what was held."""
  sys.stderr.flush()
  os.dup2(saved, 2)
  os.close(saved)
  held.seek(0)
  sys.stderr.write(held.read().decode(errors="replace"))
  sys.stderr.flush()


def _reason(error: BaseException) -> str:
  """Why a checkpoint could not be read, in a few words (no object reprs or spec dumps)."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  text = lines[0] if lines else type(error).__name__
  text = re.split(r"<bound method|TensorStore\(|\{", text)[0].strip(" :,;({")
  marks = ("error reading", "error while reading", "not_found", "data_loss", "truncated")
  if any(mark in str(error).lower() for mark in marks):
    text = "an array file is missing or truncated"
  return (text[:160] + "…") if len(text) > 160 else text or type(error).__name__


def _first_mismatch(restored: Any, target: Any) -> str | None:
  """Describes the first leaf of ``restored`` whose shape or dtype differs from ``target``."""
  saved = jax.tree_util.tree_flatten_with_path(restored)[0]
  wanted = jax.tree.leaves(target)
  if len(saved) != len(wanted):
    return f"{len(saved)} arrays where this search has {len(wanted)}"
  for (path, a), b in zip(saved, wanted, strict=True):
    if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype:
      return f"e.g. {jax.tree_util.keystr(path)} differs in shape or dtype"
  return None


def _lookup(tree: Any, path: tuple[Any, ...], renamed: Mapping[str, str]) -> np.ndarray:
  """The leaf of a restored (nested dicts and lists) tree at a pytree key path.

  A dict key the tree lacks is looked up under its old name (``renamed``: ``{old: new}``).
  """
  node = tree
  for key in path:
    if isinstance(key, jax.tree_util.GetAttrKey):
      node = node[key.name]
    elif isinstance(key, jax.tree_util.DictKey):
      old = [o for o, new in renamed.items() if new == key.key and o in node]
      node = node[old[0]] if key.key not in node and old else node[key.key]
    elif isinstance(key, jax.tree_util.SequenceKey):
      node = node[key.idx]
    else:
      raise KeyError(key)
  return np.asarray(node)
