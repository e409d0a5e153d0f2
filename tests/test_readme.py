"""Every command of the README is run by a README-verbatim test or named as not run, with why."""

import subprocess

import pytest
from conftest import REPO
from readme_commands import (
  NB201_SECTIONS,
  NOT_RUN,
  SEG_SECTION,
  SR_SECTION,
  blocks,
  commands,
  not_run_reason,
  section_items,
)

#: The sections the README-verbatim tests run (tests/test_readme_{nb201,sr,seg}.py).
RUN_SECTIONS = {*NB201_SECTIONS, SR_SECTION, SEG_SECTION}


def test_every_readme_command_is_run_or_named():
  found = blocks()
  assert len(found) >= 10
  for block in found:
    if block.language == "python":
      assert block.section in RUN_SECTIONS, block
      continue
    for command in commands(block):
      runs = not_run_reason(command) is None
      assert not runs or block.section in RUN_SECTIONS, (block.section, command)
  # each reason still names a README command
  every = [c for b in found if b.language == "bash" for c in commands(b)]
  for prefix in NOT_RUN:
    assert any(c.startswith(prefix) for c in every), prefix


def test_the_readme_blocks_are_what_the_tests_run():
  first = section_items("Install and run")
  assert [text for _, text in first] == [
    "NASJAX_DATA_DIR=../shared/data python -m nasjax.search "
    "--config=configs/nb201/darts_1st.py:demo --workdir=runs/darts"
  ]
  # a continued line is one command
  seeds = [t for _, t in section_items("Scaling out") if "num_seeds" in t]
  assert len(seeds) == 1 and seeds[0].endswith("--workdir=runs/seeds --config.num_seeds=4")


@pytest.mark.parametrize("script", ["local_gpus.sh", "tpu_pod.sh", "slurm.sbatch"])
def test_launch_scripts_print_their_usage(script):
  out = subprocess.run(
    ["bash", str(REPO / "launch" / script), "-h"], capture_output=True, text=True, timeout=60
  )
  assert out.returncode == 0, out.stderr
  assert "usage" in (out.stdout + out.stderr).lower()
