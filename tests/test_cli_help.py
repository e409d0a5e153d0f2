"""``--help`` of every command: status 0, its own flags, an example; ``--show_config``."""

from __future__ import annotations

import importlib

import pytest
import yaml
from conftest import assert_ok, run_module

# (module, flags its help must name)
ABSL_COMMANDS = [
  ("search", ("--config", "--workdir", "--show_config", "--verbose")),
  ("select", ("--config.<field>", "--workdir", "--method", "argmax, pt, single_stage")),
  ("retrain", ("--config", "--workdir", "--genotype", "DARTS_V2")),
  ("analyze", ("COMMAND", "hessian, plots", "--workdir")),
  ("sr_retrain", ("--config", "--genotype", "IMDN")),
  ("seg_retrain", ("--config", "--genotype")),
]
ARGPARSE_COMMANDS = [
  ("evaluate_sr", ("--workdir", "--sets", "--output", "--verbose")),
  ("evaluate_seg", ("--workdir", "--output", "--verbose")),
  ("reproduce", ("--methods", "--seeds", "--scale", "--workdir", "--verbose")),
]


@pytest.mark.parametrize(("name", "words"), ABSL_COMMANDS, ids=[c[0] for c in ABSL_COMMANDS])
def test_help_lists_the_programs_own_flags(name, words, capsys):
  module = importlib.import_module(f"nasjax.{name}")
  with pytest.raises(SystemExit) as exit_:
    module.main([f"nasjax.{name}", "--help"])
  out = capsys.readouterr().out
  assert exit_.value.code == 0
  assert out.startswith(f"usage: python -m nasjax.{name}")
  for word in words:
    assert word in out, (word, out)
  example = out.split("example:\n", 1)[1].splitlines()[0].strip()
  assert example.startswith(f"python -m nasjax.{name}") and "--workdir=" in example
  assert "--show_config" in out.split("fields and their values:", 1)[1]


@pytest.mark.parametrize(
  ("name", "words"), ARGPARSE_COMMANDS, ids=[c[0] for c in ARGPARSE_COMMANDS]
)
def test_help_of_the_argparse_programs(name, words, capsys):
  module = importlib.import_module(f"nasjax.{name}")
  with pytest.raises(SystemExit) as exit_:
    module.main(["--help"])
  out = capsys.readouterr().out
  assert exit_.value.code == 0
  for word in words:
    assert word in out, (word, out)


def test_the_nasjax_command_lists_its_subcommands(capsys):
  main = importlib.import_module("nasjax.__main__").main
  with pytest.raises(SystemExit) as exit_:
    main(["--help"])
  assert exit_.value.code == 0
  out = capsys.readouterr().out
  assert all(c in out for c in ("search", "select", "retrain", "analyze", "reproduce"))


def test_show_config_prints_the_resolved_config_as_plain_yaml():
  out = assert_ok(
    run_module(
      "nasjax.search",
      "--config=configs/nb201/darts_1st.py:runlocal",
      "--config.epochs=7",
      "--show_config",
    )
  )
  values = yaml.safe_load(out.stdout)
  assert values["epochs"] == 7 and values["space"]["name"] == "nb201"
  assert values["hypergradient"] == "first_order"
