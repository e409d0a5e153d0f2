"""The DARTS-space and RobustDARTS config files: they validate, set their method, and run."""

import importlib.util

import jax
import numpy as np
import pytest
from conftest import REPO

from nasjax.config.search import validate_search_config
from nasjax.errors import ConfigError
from nasjax.spaces import get_space
from nasjax.spaces.darts.genotype import DartsGenotype

DARTS = sorted((REPO / "configs" / "darts").glob("*.py"))
ROBUST = sorted((REPO / "configs" / "robust").glob("*.py"))


def _get(path, arg=None):
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg), module.__doc__


def test_every_method_of_the_issue_has_a_config():
  assert {p.stem for p in DARTS} >= {
    "darts_1st",
    "darts_2nd",
    "pc_darts",
    "beta_darts",
    "sa_darts",
    "sac_darts",
    "snas",
    "snas_sa",
    "drnas",
  }
  assert {p.stem for p in ROBUST} == {"s1", "s2", "s3", "s4"}


@pytest.mark.parametrize("path", DARTS + ROBUST, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_validates_and_documents_its_launch(path):
  full, doc = _get(path)
  local, _ = _get(path, "runlocal")
  rel = path.relative_to(REPO).as_posix()
  assert f"python -m nasjax.search --config={rel}:runlocal" in doc
  assert "Protocol" in doc
  for config in (full, local):
    validate_search_config(config)
    assert config.space.name == "darts"
  assert (full.space.channels, full.space.layers, full.epochs) == (16, 8, 50)
  assert full.data.source == "tfds"
  assert local.data.source == "npz" and local.space.layers < full.space.layers
  with pytest.raises(ConfigError, match="unknown config variant"):
    _get(path, "runlocal,fastest")


def test_each_config_sets_its_method():
  get = lambda name, arg=None: _get(REPO / "configs" / "darts" / f"{name}.py", arg)[0]
  assert get("darts_1st").hypergradient == "first_order"
  assert get("darts_2nd").hypergradient == "second_order_exact"
  assert get("darts_2nd", "fd").hypergradient == "second_order_fd"
  pc = get("pc_darts")
  assert (pc.space.partial_channels, pc.space.edge_normalization) == (4, True)
  assert (pc.batch_size, pc.optimizer.weights.lr, pc.optimizer.alpha.lr) == (256, 0.1, 6e-4)
  assert pc.optimizer.alpha.warmup_epochs == 15
  assert 0 < get("pc_darts", "runlocal").optimizer.alpha.warmup_epochs < 2  # alpha still moves
  assert get("beta_darts").regularizers.beta_decay.enabled
  sa, sac = get("sa_darts"), get("sac_darts")
  for config in (sa, sac):
    assert config.regularizers.sa.enabled and config.optimizer.alpha.weight_decay == 0.0
    sa_reg = config.regularizers.sa  # lambda_t = epoch / 5 (SA-DARTS)
    assert (sa_reg.schedule, sa_reg.start, sa_reg.slope) == ("slope", 0.0, 0.2)
  assert sa.space.partial_channels == 1 and sac.space.partial_channels == 4
  assert sac.space.edge_normalization
  snas, snas_sa = get("snas"), get("snas_sa")
  assert snas.relaxation.name == snas_sa.relaxation.name == "gumbel"
  assert not snas.regularizers.sa.enabled and snas_sa.regularizers.sa.enabled
  assert get("snas", "hard").relaxation.hard
  drnas, drnas_kl = get("drnas"), get("drnas", "kl")
  assert drnas.relaxation.name == "dirichlet" and drnas.optimizer.alpha.weight_decay == 1e-3
  assert drnas_kl.regularizers.dirichlet_kl.enabled and drnas_kl.optimizer.alpha.weight_decay == 0
  for name in ("darts_1st", "darts_2nd", "pc_darts", "snas", "drnas"):
    config = get(name)
    assert not config.regularizers.sa.enabled and not config.regularizers.beta_decay.enabled


def test_robust_configs_select_their_space_and_dataset():
  shapes = {}
  for path in ROBUST:
    config, _ = _get(path)
    assert config.space.op_set == path.stem and config.hypergradient == "first_order"
    shapes[path.stem] = get_space("darts").alpha_shapes(config.space)["normal"]
  assert shapes == {"s1": (14, 2), "s2": (14, 2), "s3": (14, 3), "s4": (14, 2)}
  s3 = REPO / "configs" / "robust" / "s3.py"
  c100, svhn = _get(s3, "cifar100,2nd")[0], _get(s3, "svhn,fd")[0]
  assert (c100.data.name, c100.space.num_classes, c100.hypergradient) == (
    "cifar100",
    100,
    "second_order_exact",
  )
  assert (svhn.data.name, svhn.space.num_classes, svhn.hypergradient) == (
    "svhn",
    10,
    "second_order_fd",
  )
  with pytest.raises(ConfigError, match="at most one dataset"):
    _get(s3, "cifar100,svhn")


def _tiny(config):
  """The runlocal config on a 2-node cell and a few steps: the same pipeline, a short compile."""
  config.space.channels = 4
  if config.space.op_set != "s1":  # S1 defines its op pairs for the 14 edges of 4 nodes
    config.space.update(steps=2, multiplier=2)
  config.batch_size = 16
  config.data.train_limit = 128  # 64 per half: 4 steps per epoch
  config.eval.update(limit=64, batch_size=64)
  config.progress_bar = False
  config.log_every_steps = 4
  return config


@pytest.mark.slow
@pytest.mark.parametrize(
  "path",
  DARTS + ROBUST,
  ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_runlocal_search_runs_end_to_end(path, tmp_path, cifar_subset):
  import nasjax.search

  config, _ = _get(path, "runlocal")
  result = nasjax.search.run(_tiny(config), tmp_path)
  assert isinstance(result.genotype, DartsGenotype) and result.step == 2 * 4
  for kind in ("normal", "reduce"):
    p = result.probs[kind]
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.isfinite(result.alphas[kind]))
  assert (tmp_path / "genotype.json").is_file()
  if config.space.edge_normalization:
    assert set(result.betas) == {"normal", "reduce"}
  assert jax.tree.leaves(result.alphas)
  assert np.isfinite(result.last_epoch["test/acc"])
