"""Transparent huge pages for the host allocator of a command-line run.

XLA's CPU runtime allocates the buffers of a step afresh at every call. With
4 KiB pages, the kernel's page faults on that memory cost a large share of a
CPU search step and serialise the threads (on the NAS-Bench-201 supernet, a
first-order step went from 1.00 s to 0.43 s on a 2-core CPU with huge pages).
glibc (2.35 and later) backs ``malloc``'s large blocks with transparent huge
pages when ``GLIBC_TUNABLES`` holds ``glibc.malloc.hugetlb=1``; glibc reads
it only at process start, so the command-line entry points restart the
process once with it set (:func:`reexec_with_huge_pages`). Set
``NASJAX_HUGE_PAGES=0`` to leave the process as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

ENV = "NASJAX_HUGE_PAGES"
TUNABLE = "glibc.malloc.hugetlb"


def _glibc_version() -> tuple[int, ...] | None:
  try:
    name = os.confstr("CS_GNU_LIBC_VERSION") or ""
  except (ValueError, OSError):  # not glibc, or no such name
    return None
  if not name.startswith("glibc "):
    return None
  try:
    return tuple(int(p) for p in name.split()[1].split(".")[:2])
  except ValueError:
    return None


def huge_pages_environment(
  environ: Mapping[str, str], platform: str | None = None, glibc: tuple[int, ...] | None = None
) -> dict[str, str] | None:
  """The environment to restart with, or None when the process should run as it is.

  Args:
    environ: the current environment.
    platform: ``sys.platform`` unless given.
    glibc: the glibc version unless given (None: not glibc).
  """
  platform = sys.platform if platform is None else platform
  if environ.get(ENV, "1") == "0" or platform != "linux":
    return None
  tunables = environ.get("GLIBC_TUNABLES", "")
  if TUNABLE in tunables or glibc is None or glibc < (2, 35):
    return None
  merged = f"{tunables}:{TUNABLE}=1" if tunables else f"{TUNABLE}=1"
  return {**environ, "GLIBC_TUNABLES": merged}


def reexec_with_huge_pages(restart_anyway: bool = False) -> None:
  """Restarts this process with huge pages for ``malloc`` when they are off (see above).

  Keeps the process id, the command line and the rest of the environment.
  Call it before any computation: the process is replaced.

  Args:
    restart_anyway: restart even when huge pages are off or already on (the
      caller changed a variable that native libraries read only at load).
  """
  env = huge_pages_environment(os.environ, glibc=_glibc_version())
  if env is None and restart_anyway:
    env = dict(os.environ)
  argv = getattr(sys, "orig_argv", None)
  if env is None or not argv:
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *argv[1:]], env)
