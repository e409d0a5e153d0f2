"""Command-line runs hide XLA's C++ log lines unless the user asks for them."""

import subprocess
import sys

import pytest
from conftest import REPO, cli_env

#: A command-line program that reports the variable at its start and in its run.
PROGRAM = """
import os, sys
print("start", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), flush=True)
import ml_collections
from nasjax import cli

def run(config, workdir):
  print("run", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), flush=True)

cli.main(cli.Command(program="probe", run=run, default_config=ml_collections.ConfigDict()))
"""


def _run(tmp_path, env_value, *flags):
  script = tmp_path / "probe.py"
  script.write_text(PROGRAM)
  env = cli_env()
  env.pop("TF_CPP_MIN_LOG_LEVEL", None)
  env["NASJAX_HUGE_PAGES"] = "0"  # the restart below is the logging's own
  if env_value is not None:
    env["TF_CPP_MIN_LOG_LEVEL"] = env_value
  out = subprocess.run(
    [sys.executable, str(script), f"--workdir={tmp_path / 'w'}", *flags],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert out.returncode == 0, out.stderr
  return [line for line in out.stdout.splitlines() if line.startswith(("start", "run"))]


@pytest.mark.parametrize(
  "env_value, flags, expected",
  [
    # unset: set to 3 and the process restarts, so XLA loads with it
    (None, (), ["start None", "start 3", "run 3"]),
    # --verbose: XLA's lines are shown (jax's own default, 1), no restart
    (None, ("--verbose",), ["start None", "run 1"]),
    # the user's own level is kept, no restart
    ("1", (), ["start 1", "run 1"]),
  ],
)
def test_xla_log_level_is_set_before_xla_loads(tmp_path, env_value, flags, expected):
  assert _run(tmp_path, env_value, *flags) == expected
