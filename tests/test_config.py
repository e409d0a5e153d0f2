"""Impossible config values are refused with a message naming the field."""

import pytest
from conftest import tiny_config

from nasjax.config.search import search_config, validate_search_config
from nasjax.core.setup import make_search_setup
from nasjax.errors import ConfigError


@pytest.mark.parametrize(
  "key,value,message",
  [
    ("optimizer.weights.lr", -0.1, r"config.optimizer.weights.lr must be > 0"),
    ("optimizer.weights.lr_min", 0.5, r"lr_min .* must not exceed"),
    ("optimizer.weights.momentum", 1.5, r"momentum must be in \[0, 1\)"),
    ("optimizer.alpha.lr", 0.0, r"config.optimizer.alpha.lr must be > 0"),
    ("optimizer.alpha.b2", 1.0, r"b2 must be in \[0, 1\)"),
    ("space.channels", 0, r"config.space.channels must be an integer >= 1"),
    ("space.cells_per_stage", -1, r"cells_per_stage must be an integer >= 1"),
    ("space.ops", ("none", "conv_7x7"), r"unknown op\(s\) \['conv_7x7'\]"),
    ("space.ops", ("none",), r"at least one besides 'none'"),
    ("space.name", "nb301", r"unknown search space"),
    ("hypergradient", "third_order", r"config.hypergradient must be one of"),
    ("relaxation.name", "sparsemax", r"unknown relaxation 'sparsemax'"),
    ("relaxation.temperature", 0.0, r"temperature must be positive"),
    ("fd_radius", -1.0, r"config.fd_radius must be > 0"),
    ("epochs", 0, r"config.epochs must be an integer >= 1"),
  ],
)
def test_bad_values_are_refused(key, value, message):
  config = tiny_config(**{key: value})
  with pytest.raises(ConfigError, match=message):
    validate_search_config(config)


def test_the_default_config_is_valid_and_its_errors_surface_in_setup():
  validate_search_config(search_config())
  config = tiny_config(**{"optimizer.weights.lr": -1.0})
  with pytest.raises(ConfigError):
    make_search_setup(config, steps_per_epoch=1)


def test_unknown_space_field_is_refused():
  config = tiny_config()
  config.space.unlock()
  config.space.width_multiplier = 2
  with pytest.raises(ConfigError, match="width_multiplier"):
    validate_search_config(config)


def _saved_before_the_protocol_fields(config):
  """``config`` as the JSON of a run written before the step-protocol and slope fields existed."""
  saved = config.to_dict()
  for key in ("step_order", "bn_stats_update"):
    del saved[key]
  del saved["optimizer"]["weights"]["grad_clip_scope"]
  del saved["space"]["conv_bias"]
  for reg in saved["regularizers"].values():
    del reg["slope"]
  return saved


def test_a_run_written_before_the_new_fields_resumes_unchanged():
  """Missing protocol fields count as the behaviour they were added with (alpha first, ...)."""
  from nasjax.config.resume import config_changes

  current = search_config()
  old = _saved_before_the_protocol_fields(current)
  old["regularizers"]["sa"].update(schedule="linear", strength=0.0)  # the old disabled default
  old["regularizers"]["beta_decay"].update(schedule="linear", strength=50.0, ramp_epochs=100)
  assert config_changes(old, current.to_dict()) == []
  current.step_order = "weights_first"
  current.space.conv_bias = True
  changed = [k for k, _, _ in config_changes(old, current.to_dict())]
  assert changed == ["space.conv_bias", "step_order"]


def test_schedules_compare_by_what_they_compute():
  """SA written as linear to epochs / 5 resumes under slope 0.2; a different lambda_t does not."""
  from nasjax.config.protocols import sa_darts_protocol
  from nasjax.config.resume import config_changes

  current = sa_darts_protocol(search_config())  # slope 0.2 per epoch
  old = _saved_before_the_protocol_fields(current)
  old["regularizers"]["sa"].update(schedule="linear", strength=current.epochs / 5, ramp_epochs=0)
  assert config_changes(old, current.to_dict()) == []
  old["regularizers"]["sa"]["strength"] = 3 / 5  # a runlocal's value, left by --config.epochs=50
  changed = config_changes(old, current.to_dict())
  assert [k for k, _, _ in changed] == ["regularizers.sa.lambda_per_epoch"]
  # A regulariser that is off in both configs differs in nothing that is computed.
  current.regularizers.entropy.strength = 0.7
  assert [k for k, _, _ in config_changes(old, current.to_dict())] == [
    "regularizers.sa.lambda_per_epoch"
  ]
