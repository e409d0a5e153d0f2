"""Command-line runs restart once with huge pages for the host allocator."""

import os
import subprocess
import sys

import pytest

from nasjax.infra.host_memory import huge_pages_environment


def test_the_tunable_is_added_once_and_kept_with_others():
  env = huge_pages_environment({"PATH": "/bin"}, platform="linux", glibc=(2, 36))
  assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
  other = huge_pages_environment(
    {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, platform="linux", glibc=(2, 36)
  )
  assert other["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
  assert huge_pages_environment(env, platform="linux", glibc=(2, 36)) is None  # already set


@pytest.mark.parametrize(
  "environ,platform,glibc",
  [
    ({"NASJAX_HUGE_PAGES": "0"}, "linux", (2, 36)),  # turned off
    ({}, "darwin", None),  # not Linux
    ({}, "linux", (2, 31)),  # a glibc without the tunable
    ({}, "linux", None),  # not glibc (e.g. musl)
  ],
)
def test_no_restart_where_it_cannot_help(environ, platform, glibc):
  assert huge_pages_environment(environ, platform=platform, glibc=glibc) is None


@pytest.mark.skipif(sys.platform != "linux", reason="glibc tunables are Linux-only")
def test_the_process_restarts_with_the_tunable():
  from nasjax.infra.host_memory import _glibc_version

  if (_glibc_version() or (0,)) < (2, 35):
    pytest.skip("glibc older than 2.35")
  env = {k: v for k, v in os.environ.items() if k not in ("NASJAX_HUGE_PAGES", "GLIBC_TUNABLES")}
  code = (
    "import os, sys; print('start', os.getpid(), flush=True); "
    "from nasjax.infra.host_memory import reexec_with_huge_pages; reexec_with_huge_pages(); "
    "print('after', os.getpid(), os.environ['GLIBC_TUNABLES'], sys.argv[1:])"
  )
  out = subprocess.run(
    [sys.executable, "-c", code, "--flag=1"], env=env, capture_output=True, text=True, check=True
  )
  lines = out.stdout.split("\n")
  starts = [line for line in lines if line.startswith("start")]
  after = [line for line in lines if line.startswith("after")]
  assert len(starts) == 2 and len(after) == 1  # restarted once, same process id, same argv
  pid = starts[0].split()[1]
  assert after[0] == f"after {pid} glibc.malloc.hugetlb=1 ['--flag=1']"
