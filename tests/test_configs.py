"""The config files under configs/: they load, validate, and say what they run."""

import importlib.util

import pytest
from conftest import REPO

from nasjax.config import validate_search_config
from nasjax.errors import ConfigError

CONFIGS = sorted((REPO / "configs" / "nb201").glob("*.py"))


def _load(path):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_method_of_the_issue_has_a_config():
  names = {p.stem for p in CONFIGS}
  assert names >= {"darts_1st", "darts_2nd", "beta_darts", "sa_darts", "sa_darts_smu", "entropy"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_documents_its_launch(path):
  module = _load(path)
  rel = path.relative_to(REPO).as_posix()
  assert f"python -m nasjax.search --config={rel}:runlocal" in module.__doc__
  assert "Protocol" in module.__doc__
  full, local = module.get_config(None), module.get_config("runlocal")
  validate_search_config(full)
  validate_search_config(local)
  assert full.data.source == "tfds" and full.data.name == "cifar10"
  assert local.data.source == "npz" and local.epochs * 20 <= 200  # a CPU-minute run
  assert local.space.channels < full.space.channels
  with pytest.raises(ConfigError, match="unknown config variant"):
    module.get_config("runlocal,fastest")


def test_each_config_sets_its_method():
  get = lambda name, arg=None: _load(REPO / "configs" / "nb201" / f"{name}.py").get_config(arg)
  assert get("darts_1st").hypergradient == "first_order"
  assert get("darts_2nd").hypergradient == "second_order_exact"
  assert get("darts_2nd", "fd,runlocal").hypergradient == "second_order_fd"
  beta = get("beta_darts")
  assert beta.regularizers.beta_decay.enabled and beta.epochs == 100
  sa, smu = get("sa_darts"), get("sa_darts_smu")
  assert sa.regularizers.sa.enabled and sa.regularizers.sa.a == 1.0
  assert sa.regularizers.sa.strength == sa.epochs / 5  # lambda_t = epoch / 5
  assert sa.optimizer.alpha.weight_decay == 0.0
  assert smu.regularizers.sa.enabled and smu.regularizers.sa.a != 1.0
  assert get("entropy").regularizers.entropy.enabled
  assert get("entropy", "linear").regularizers.entropy.schedule == "linear"
  for name in ("darts_1st", "darts_2nd", "entropy"):
    assert not get(name).regularizers.sa.enabled and not get(name).regularizers.beta_decay.enabled
