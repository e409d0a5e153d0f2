"""How nasjax compiles: one-off programs cheaply, and compiled programs cached on disk.

XLA compile time dominates short runs on a CPU: a supernet step takes tens of
seconds to compile and a Flax ``init`` spends most of its compile time on the
threefry code of each parameter's initialiser. Two remedies live here:

* :func:`init_variables` compiles a module's ``init`` with XLA's backend
  optimisation off (it runs once, so its speed does not matter; the values
  are the same, threefry being integer arithmetic);
* :func:`enable_compilation_cache` turns on JAX's persistent compilation
  cache, so a resumed or repeated run reuses the previous compile.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax

CACHE_ENV = "NASJAX_COMPILATION_CACHE"


def _one_off_options() -> dict[str, Any] | None:
  return {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


def init_variables(module: nn.Module, rng: jax.Array, *args: Any, **kwargs: Any) -> Any:
  """``module.init(rng, *args, **kwargs)``, jitted and compiled for compile speed.

  Positional ``args`` are traced (arrays or pytrees of arrays); keyword
  arguments are static (e.g. ``train=True``). A module class with
  ``init_eagerly = True`` is initialised op by op instead: for wide graphs
  of small distinct ops (the trellis supernet) that is several times faster
  than compiling the whole ``init`` once.
  """
  if getattr(module, "init_eagerly", False):
    with jax.disable_jit():
      return module.init(rng, *args, **kwargs)
  fn = jax.jit(lambda key, *a: module.init(key, *a, **kwargs), compiler_options=_one_off_options())
  return fn(rng, *args)


def default_cache_dir() -> Path:
  """``$NASJAX_COMPILATION_CACHE``, else ``~/.cache/nasjax/xla``."""
  return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nasjax" / "xla")


def enable_compilation_cache(
  path: str | os.PathLike | None = None, min_compile_seconds: float = 1.0
) -> Path | None:
  """Caches compiled programs on disk (JAX's persistent compilation cache).

  Args:
    path: the cache folder (default :func:`default_cache_dir`); ``"off"``
      (or ``NASJAX_COMPILATION_CACHE=off``) disables the cache.
    min_compile_seconds: programs that compile faster are not cached.

  Returns:
    The folder used, or None when disabled or not writable.
  """
  if str(path or os.environ.get(CACHE_ENV, "")).lower() == "off":
    return None
  folder = Path(path) if path else default_cache_dir()
  try:
    folder.mkdir(parents=True, exist_ok=True)
  except OSError:
    return None
  jax.config.update("jax_compilation_cache_dir", str(folder))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
  return folder
