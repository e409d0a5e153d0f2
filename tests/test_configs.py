"""The config files under configs/: they load, validate, and say what they run."""

import importlib.util

import numpy as np
import pytest
from conftest import REPO

from nasjax.config.search import validate_search_config
from nasjax.errors import ConfigError

# One file per method; cpu_scale.py shrinks them (tests/test_reproduce.py covers it).
CONFIGS = sorted(p for p in (REPO / "configs" / "nb201").glob("*.py") if p.stem != "cpu_scale")


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
  assert sa.regularizers.sa.schedule == "slope" and sa.regularizers.sa.slope == 0.2  # epoch / 5
  assert sa.optimizer.alpha.weight_decay == 0.0
  assert smu.regularizers.sa.enabled and smu.regularizers.sa.a != 1.0
  assert get("entropy").regularizers.entropy.enabled
  assert get("entropy", "linear").regularizers.entropy.schedule == "linear"
  for name in ("darts_1st", "darts_2nd", "entropy"):
    assert not get(name).regularizers.sa.enabled and not get(name).regularizers.beta_decay.enabled


NOT_SEARCHES = ("retrain", "single_stage", "two_stage_retrain")
#: Every search config, and the variants that change its regularisers' schedules.
SCHEDULED = {
  path: variants
  for path, variants in {
    **{p: (None, "runlocal") for p in sorted((REPO / "configs").glob("*/*.py"))},
    REPO / "configs/nb201/entropy.py": (None, "runlocal", "linear", "linear,runlocal"),
  }.items()
  if "retrain" not in path.parts
  and path.stem not in ("retrain", "single_stage", "two_stage_retrain")
}
#: lambda_t of each method's published schedule (entropy's and the FLOPs term's are defaults
#: chosen here), as a function of the epoch t and the search length E.
PAPER_SCHEDULES = {
  "sa": lambda t, e, kind: 0.2 * t,  # SA-DARTS: epoch / 5
  "beta_decay": lambda t, e, kind: 0.5 * t,  # Beta-DARTS' code: 50 * epoch / 100
  "entropy": lambda t, e, kind: 0.1 if kind == "constant" else 0.1 * t / e,
  "flops": lambda t, e, kind: 1e-3,
  "dirichlet_kl": lambda t, e, kind: 1e-3,
}


def _schedules(config):
  """``{name: [lambda_t for t < epochs]}`` of the enabled regularisers, as a search builds them."""
  from nasjax.core.setup import make_search_setup

  reg = make_search_setup(config, steps_per_epoch=3).regularizer
  return {
    name: [float(lam(t)) for t in range(config.epochs)]
    for name, _, lam, _ in reg.terms
    if name != "l2"
  }


@pytest.mark.parametrize(
  "path,arg",
  [(p, v) for p, variants in SCHEDULED.items() for v in variants],
  ids=lambda x: x if isinstance(x, str) or x is None else x.relative_to(REPO).as_posix(),
)
def test_overriding_epochs_keeps_each_protocols_schedule(path, arg):
  """``--config.epochs=E`` (after ``runlocal`` too) keeps the paper's lambda_t = f(epoch)."""
  seen = set()
  for epochs in (None, 10, 37):
    try:
      config = _load(path).get_config(arg)
    except ConfigError as e:  # a file that composes others needs its own variants
      pytest.skip(f"{path.name} needs variants: {e}")
    if "regularizers" not in config:
      pytest.skip("not a search config")
    if epochs is not None:
      config.epochs = epochs  # what --config.epochs=E does after the file's get_config
    got = _schedules(config)
    for name, values in got.items():
      kind = config.regularizers[name].schedule
      want = [PAPER_SCHEDULES[name](t, config.epochs, kind) for t in range(config.epochs)]
      np.testing.assert_allclose(values, want, rtol=1e-6, atol=1e-9, err_msg=name)
      seen.add(name)
  if path.stem in ("sa_darts", "sa_darts_smu", "sac_darts", "snas_sa", "imdn_sa", "dlsr_sa"):
    assert "sa" in seen
  if "beta" in path.stem:
    assert "beta_decay" in seen


def test_the_issue_overrides_give_the_papers_lambda():
  """SA with :runlocal and 10 epochs reaches 1.8 at epoch 9 (epoch / 5), Beta 4.5 (0.5 epoch)."""
  from nasjax.run.search_log import header_lines

  for name, reg, last in (("sa_darts", "sa", 1.8), ("beta_darts", "beta_decay", 4.5)):
    config = _load(REPO / "configs" / "nb201" / f"{name}.py").get_config("runlocal")
    config.epochs = 10
    assert _schedules(config)[reg][-1] == pytest.approx(last)
    assert f"{last:g} at epoch 9" in [line for line in header_lines(config) if reg in line][0]
    config.regularizers[reg].strength = 2.0  # the old way of setting it is refused, not ignored
    with pytest.raises(ConfigError, match=f"regularizers.{reg}.strength=2.0 is not used"):
      validate_search_config(config)
