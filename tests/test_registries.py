"""A space, a regulariser and a task added from this file alone run through real search steps.

Each is one record registered by name (``register_space``,
``register_regularizer``, ``register_task``); nothing else in nasjax is
touched. The registrations are undone after each test.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import normalized_batch, tiny_config

import nasjax.search
from nasjax.checks import check, known_fields
from nasjax.config import search_config
from nasjax.core import regularizers
from nasjax.core.regularizers import Penalty, leafwise
from nasjax.core.setup import make_search_setup
from nasjax.data.batches import StepBatches
from nasjax.errors import ConfigError
from nasjax.spaces import registry as space_registry
from nasjax.spaces.base import SearchSpace
from nasjax.spaces.genotype import GenotypeError
from nasjax.tasks import registry as task_registry
from nasjax.tasks.base import Task

TOY_OPS = ("zero", "identity", "dense")


@dataclasses.dataclass(frozen=True)
class ToyGenotype:
  """The op chosen on the toy space's one edge."""

  op: str
  space = "toy"

  def to_string(self) -> str:
    return f"toy:{self.op}"

  def to_dict(self) -> dict[str, Any]:
    return {"space": self.space, "arch_str": self.to_string(), "op": self.op}

  @classmethod
  def from_string(cls, text: str) -> ToyGenotype:
    if not text.startswith("toy:") or text[4:] not in TOY_OPS:
      raise GenotypeError(f"not a toy genotype: {text!r}")
    return cls(text[4:])

  @classmethod
  def from_dict(cls, data: dict[str, Any]) -> ToyGenotype:
    return cls.from_string(data["arch_str"])

  @classmethod
  def recognizes(cls, data: Any) -> bool:
    text = data.get("arch_str", "") if isinstance(data, dict) else data
    return str(text).startswith("toy:")


class ToySupernet(nn.Module):
  """One mixed edge (zero, identity, a dense layer) between two dense layers."""

  outputs: int

  @nn.compact
  def __call__(self, x, weights, train: bool = False):
    h = nn.Dense(8)(x.reshape(x.shape[0], -1))
    h = nn.BatchNorm(use_running_average=not train)(h)
    candidates = {"zero": jnp.zeros_like(h), "identity": h, "dense": nn.Dense(8)(h)}
    w = weights["edge"][0]
    mixed = sum(w[i] * candidates[op] for i, op in enumerate(TOY_OPS))
    return nn.Dense(self.outputs)(mixed)


class ToyNetwork(nn.Module):
  """The toy space's network of one genotype."""

  genotype: ToyGenotype
  outputs: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    weights = {"edge": jnp.asarray([[float(op == self.genotype.op) for op in TOY_OPS]])}
    return ToySupernet(self.outputs)(x, weights, train)


def _validate_toy(cfg: Any) -> None:
  known_fields(cfg, {"name", "num_classes"}, "config.space", " for space 'toy'")
  check(cfg.num_classes >= 1, f"config.space.num_classes must be >= 1, got {cfg.num_classes}")


def toy_space(task: str = "classification") -> SearchSpace:
  return SearchSpace(
    name="toy",
    validate=_validate_toy,
    build_supernet=lambda cfg: ToySupernet(cfg.num_classes),
    alpha_shapes=lambda cfg: {"edge": (1, len(TOY_OPS))},
    op_names=lambda cfg: TOY_OPS,
    derive_genotype=lambda probs, cfg, betas=None: ToyGenotype(
      TOY_OPS[int(np.argmax(np.asarray(probs["edge"])[0]))]
    ),
    genotype=ToyGenotype,
    build_network=lambda genotype, cfg: ToyNetwork(genotype, cfg.num_classes),
    genotype_weights=lambda genotype, cfg: {
      "edge": np.asarray([[float(op == genotype.op) for op in TOY_OPS]], np.float32)
    },
    task=task,
  )


def _small_run(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config.epochs = 1
  config.batch_size = 8
  config.eval.update(batch_size=16, limit=16)
  config.progress_bar = False
  config.log_every_steps = 2
  config.checkpoint.async_save = False
  return config


@pytest.fixture
def registered(monkeypatch):
  """Registers a record for the test's duration."""

  def register(table: dict[str, Any], record: Any) -> Any:
    monkeypatch.setitem(table, record.name, record)
    return record

  return register


def test_a_space_registered_here_runs_a_search(registered, tmp_path, cifar_subset):
  registered(space_registry.SPACES, toy_space())
  config = search_config()
  config.space = ml_collections.ConfigDict(dict(name="toy", num_classes=10))
  config.data.update(source="npz", train_limit=32)
  result = nasjax.search.run(_small_run(config), tmp_path)
  assert result.step == 2 and isinstance(result.genotype, ToyGenotype)
  assert result.probs["edge"].shape == (1, 3)
  saved = json.loads((tmp_path / "genotype.json").read_text())["genotype"]
  assert space_registry.genotype_from_dict(saved) == result.genotype  # read through the registry
  (tmp_path / "toy.txt").write_text(result.genotype.to_string())
  assert space_registry.load_genotype(tmp_path / "toy.txt") == result.genotype


def test_a_regularizer_registered_here_enters_the_alpha_loss(registered, cifar_subset):
  registered(
    regularizers.PENALTIES,
    Penalty(
      "toy_l1",
      lambda cfg, costs: leafwise(lambda z: cfg["scale"] * jnp.sum(jnp.abs(z))),
      fields=dict(scale=2.0),
      defaults=dict(strength=0.5),
    ),
  )
  config = tiny_config()
  assert config.regularizers.toy_l1.to_dict() == {
    "enabled": False,
    "schedule": "constant",
    "strength": 0.5,
    "start": 0.0,
    "ramp_epochs": 0,
    "slope": 0.0,
    "apply_to": "logits",
    "scale": 2.0,
  }
  batch = normalized_batch(cifar_subset, 0, 8)
  states = {}
  for enabled in (False, True):
    config.regularizers.toy_l1.enabled = enabled
    setup = make_search_setup(config, steps_per_epoch=4)
    state = setup.init(jax.random.key(0), (32, 32, 3))
    alphas = state.alphas
    states[enabled], metrics = jax.jit(setup.step)(state, batch, batch)
  expected = 0.5 * 2.0 * float(jnp.sum(jnp.abs(alphas["cell"])))
  assert float(metrics["reg/toy_l1"]) == pytest.approx(expected, rel=1e-5)
  assert float(metrics["reg/toy_l1_lambda"]) == 0.5
  assert not np.allclose(states[True].alphas["cell"], states[False].alphas["cell"])
  config.regularizers.toy_l1.shape = 1  # an unknown field is one line naming it
  with pytest.raises(ConfigError, match="toy_l1 has no field"):
    make_search_setup(config, steps_per_epoch=4)


class _RegressionData(StepBatches):
  """Random images and their pixel means, as a pure function of the step."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.seed, self.batch_size = config.seed, config.batch_size
    self.steps_per_epoch = config.data.steps_per_epoch
    self.image_shape = (4, 4, 3)

  def _draw(self, key: list[int], size: int) -> dict[str, np.ndarray]:
    x = np.random.default_rng(key).normal(size=(size, *self.image_shape)).astype(np.float32)
    return {"image": x, "label": x.mean(axis=(1, 2))}

  def batch(self, step: int):
    return self._draw([self.seed, step, 0], self.batch_size), self._draw(
      [self.seed, step, 1], self.batch_size
    )

  def eval_batches(self, batch_size: int, limit: int = 0):
    yield {**self._draw([self.seed, 99], batch_size), "weight": np.ones(batch_size, np.float32)}


def _validate_regression(config: ml_collections.ConfigDict) -> None:
  known_fields(config.data, {"steps_per_epoch"}, "config.data", " for the toy regression task")
  check(config.space.num_classes == 3, "config.space.num_classes must be 3 (one per channel)")


def test_a_task_registered_here_runs_a_search(registered, tmp_path):
  squared = lambda out, target: jnp.mean(jnp.square(out - target), axis=-1)  # noqa: E731
  registered(
    task_registry.TASKS,
    Task(
      name="toy_regression",
      metric="neg_mse",
      per_example_loss=squared,
      per_example_metric=lambda out, target: -squared(out, target),
      label_dtype=jnp.float32,
      metric_label="negative MSE",
      data_config=lambda: ml_collections.ConfigDict(dict(steps_per_epoch=2)),
      validate_data=_validate_regression,
      search_data=lambda config, index=0, count=1: _RegressionData(config),
    ),
  )
  registered(space_registry.SPACES, toy_space(task="toy_regression"))
  config = search_config()
  config.space = ml_collections.ConfigDict(dict(name="toy", num_classes=3))
  config.data = task_registry.get_task("toy_regression").data_config()
  config.nb201_table = "none"
  result = nasjax.search.run(_small_run(config), tmp_path)
  assert result.step == 2 and isinstance(result.genotype, ToyGenotype)
  assert np.isfinite(result.last_epoch["test/neg_mse"]) and result.last_epoch["test/neg_mse"] <= 0
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert "train/neg_mse" in records[0] and "val/neg_mse" in records[0]
  config.space.num_classes = 2  # the task's own check of its data against the space
  with pytest.raises(ConfigError, match="num_classes must be 3"):
    nasjax.search.run(config, tmp_path / "bad")
