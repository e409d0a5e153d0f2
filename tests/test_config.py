"""Impossible config values are refused with a message naming the field."""

import pytest
from conftest import tiny_config

from nasjax import bilevel
from nasjax.config import search_config, validate_search_config
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
    bilevel.make_search_setup(config, steps_per_epoch=1)


def test_unknown_space_field_is_refused():
  config = tiny_config()
  config.space.unlock()
  config.space.width_multiplier = 2
  with pytest.raises(ConfigError, match="width_multiplier"):
    validate_search_config(config)
