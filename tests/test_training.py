"""Training a fixed network: schedules, the loss, one SGD step by hand, evaluation, TrainData."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import normalized_batch

from nasjax.config.retrain import retrain_config
from nasjax.core import training
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.spaces.darts.genotype import DARTS_V2, DartsGenotype
from nasjax.tasks.classification import data as data_lib
from nasjax.tasks.classification import datasets

#: A cheap-to-compile genotype with every kind of weight: a sep conv, a dil conv and, on
#: a reduction cell's inputs, a FactorizedReduce skip; parameter-free ops elsewhere.
LIGHT = DartsGenotype(
  normal=(
    ("sep_conv_3x3", 0), ("skip_connect", 1), ("max_pool_3x3", 0), ("skip_connect", 2),
    ("avg_pool_3x3", 1), ("skip_connect", 3), ("skip_connect", 4), ("dil_conv_3x3", 1),
  ),
  normal_concat=(2, 3, 4, 5),
  reduce=(
    ("max_pool_3x3", 0), ("skip_connect", 1), ("skip_connect", 2), ("avg_pool_3x3", 0),
    ("skip_connect", 3), ("max_pool_3x3", 1), ("skip_connect", 4), ("max_pool_3x3", 0),
  ),
  reduce_concat=(2, 3, 4, 5),
)  # fmt: skip


def _config(**optimizer):
  config = retrain_config()
  config.epochs = 10
  config.network.update(channels=4, layers=3)
  config.optimizer.update(optimizer)
  return config


def test_learning_rate_schedules_change_once_per_epoch():
  spe = 7
  cosine = training.make_train_setup(_config(lr=0.1, lr_min=0.0), spe, DARTS_V2).lr_schedule
  expo = training.make_train_setup(_config(lr=0.1, schedule="exponential"), spe, DARTS_V2)
  step = training.make_train_setup(
    _config(lr=0.1, schedule="step", gamma=0.5, decay_epochs=3), spe, DARTS_V2
  )
  for epoch in range(11):
    for s in (epoch * spe, epoch * spe + spe - 1):
      np.testing.assert_allclose(cosine(s), 0.05 * (1 + np.cos(np.pi * epoch / 10)), atol=1e-7)
      np.testing.assert_allclose(expo.lr_schedule(s), 0.1 * 0.97**epoch, rtol=1e-6)
      np.testing.assert_allclose(step.lr_schedule(s), 0.1 * 0.5 ** (epoch // 3), rtol=1e-6)
      np.testing.assert_allclose(expo.drop_path_schedule(s), 0.2 * epoch / 10, rtol=1e-6)
  assert float(expo.drop_path_schedule(spe - 1)) == 0.0  # DARTS: no drop path in epoch 0


def test_label_smoothed_cross_entropy_by_hand():
  logits = jnp.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
  labels = jnp.array([0, 2])
  logp = np.log(np.exp(logits) / np.exp(logits).sum(-1, keepdims=True))
  ce = -logp[[0, 1], [0, 2]]
  smoothed = (1 - 0.1) * ce + 0.1 * (-logp.mean(-1))  # eps spread over all classes
  np.testing.assert_allclose(training.classification_loss(logits, labels, 0.1), smoothed.mean())
  np.testing.assert_allclose(training.classification_loss(logits, labels), ce.mean(), rtol=1e-6)
  top = training.top_k_correct(jnp.array([[0.0, 3.0, 2.0, 1.0]] * 2), jnp.array([2, 0]), 2)
  assert top.tolist() == [1.0, 0.0]


@pytest.fixture(scope="module")
def setup_and_state():
  config = _config(grad_clip=1.0, weight_decay=1e-2, momentum=0.9)
  config.label_smoothing = 0.1
  setup = training.make_train_setup(config, steps_per_epoch=5, genotype=LIGHT)
  return setup, setup.init(jax.random.key(0), (32, 32, 3))


def test_one_step_is_clipped_coupled_sgd_on_main_plus_aux_loss(setup_and_state, cifar_subset):
  setup, state = setup_and_state
  batch = {k: jnp.asarray(v) for k, v in normalized_batch(cifar_subset, 0, 8).items()}
  key = jax.random.fold_in(jax.random.wrap_key_data(state.rng), 0)

  def loss(params):
    (logits, aux), _ = setup.model.apply(
      {"params": params, "batch_stats": state.batch_stats},
      batch["image"],
      train=True,
      drop_path=0.0,
      rngs={"dropout": key},
      mutable=["batch_stats"],
    )
    smooth = lambda z: jnp.mean(
      optax.softmax_cross_entropy(z, optax.smooth_labels(jax.nn.one_hot(batch["label"], 10), 0.1))
    )
    return smooth(logits) + 0.4 * smooth(aux)

  value, grads = jax.jit(jax.value_and_grad(loss))(state.params)
  norm = optax.tree.norm(grads)
  assert norm > 1.0  # so the clip acts
  lr = 0.025  # epoch 0 of the cosine schedule
  expected = jax.tree.map(
    lambda p, g: p - lr * (g / norm + 1e-2 * p), state.params, grads
  )  # the momentum buffer starts at the first (clipped, decayed) gradient
  new_state, metrics = jax.jit(setup.step)(state, batch)
  np.testing.assert_allclose(metrics["train/loss"], value, rtol=1e-5)
  np.testing.assert_allclose(metrics["weights/grad_norm"], norm, rtol=1e-4)
  assert int(new_state.step) == 1 and float(metrics["lr"]) == pytest.approx(lr)
  for got, want in zip(jax.tree.leaves(new_state.params), jax.tree.leaves(expected), strict=True):
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
  assert not jax.tree.all(jax.tree.map(jnp.array_equal, new_state.batch_stats, state.batch_stats))


def test_evaluate_weights_out_filler_examples(setup_and_state, cifar_subset):
  setup, state = setup_and_state
  batch = normalized_batch(cifar_subset, 0, 8)
  padded = dict(batch, weight=np.array([1] * 5 + [0] * 3, np.float32))
  evaluate = jax.jit(setup.evaluate)
  full, part = evaluate(state, batch), evaluate(state, padded)
  logits = np.asarray(setup.logits(state, batch["image"][:5]))
  labels = batch["label"][:5]
  assert float(part["count"]) == 5 and float(full["count"]) == 8
  np.testing.assert_allclose(part["top1"], np.mean(logits.argmax(-1) == labels), atol=1e-6)
  top5 = np.mean([label in np.argsort(-row)[:5] for row, label in zip(logits, labels, strict=True)])
  np.testing.assert_allclose(part["top5"], top5, atol=1e-6)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(part["loss"], -log_probs[np.arange(5), labels].mean(), rtol=1e-5)


@pytest.fixture(scope="module")
def dataset(cifar_subset):
  return datasets.ImageDataset(
    "cifar10",
    cifar_subset["x_train"],
    cifar_subset["y_train"].astype(np.int32),
    cifar_subset["x_test"],
    cifar_subset["y_test"].astype(np.int32),
    10,
  )


def _data_cfg(**augment):
  cfg = retrain_config().data
  cfg.augment.update(augment)
  return cfg


def test_train_data_is_a_pure_function_of_the_step(dataset):
  one = data_lib.TrainData(dataset, _data_cfg(), seed=3, batch_size=64)
  two = data_lib.TrainData(dataset, _data_cfg(), seed=3, batch_size=64)
  assert one.steps_per_epoch == 5085 // 64
  for step in (3, one.steps_per_epoch + 3, 5 * one.steps_per_epoch):
    assert np.array_equal(one.batch(step)["image"], two.batch(step)["image"])
  assert not np.array_equal(one.batch(3)["image"], one.batch(one.steps_per_epoch + 3)["image"])
  for step, batch in zip(range(10, 13), one.batches(10, 13), strict=True):
    assert np.array_equal(batch["image"], two.batch(step)["image"])
  # Two processes each take their half of the same global batch.
  halves = [data_lib.TrainData(dataset, _data_cfg(), 3, 64, p, 2).batch(7) for p in (0, 1)]
  assert np.array_equal(np.concatenate([h["image"] for h in halves]), one.batch(7)["image"])
  with pytest.raises(ConfigError, match="divisible"):
    data_lib.TrainData(dataset, _data_cfg(), 3, 63, 0, 2)
  limited = _data_cfg()
  limited.train_limit = 50
  with pytest.raises(ConfigError, match="larger than the training set"):
    data_lib.TrainData(dataset, limited, 3, 64)


def test_an_epoch_visits_every_example_once_with_cutout(dataset):
  plain = data_lib.TrainData(dataset, _data_cfg(crop_padding=0, flip=False, cutout=0), 0, 100)
  x = datasets.normalize(dataset.x_train, "cifar10")
  lookup = {x[i].tobytes(): i for i in range(len(x))}
  seen = [
    lookup[img.tobytes()] for s in range(plain.steps_per_epoch) for img in plain.batch(s)["image"]
  ]
  assert len(set(seen)) == len(seen) == plain.steps_per_epoch * 100
  cut = data_lib.TrainData(dataset, _data_cfg(crop_padding=0, flip=False, cutout=16), 0, 100)
  batch = cut.batch(0)
  zeros = (batch["image"] == 0).all(-1).sum(axis=(1, 2))
  assert np.array_equal(batch["label"], plain.batch(0)["label"])
  assert zeros.max() == 16 * 16 and zeros.min() >= 8 * 8  # a 16x16 square, cut at the border


def test_svhn_is_read_under_its_tfds_name(tmp_path):
  with pytest.raises(DataNotFoundError, match="tfds build svhn_cropped --data_dir=DIR"):
    datasets.load_tfds("svhn", data_dir=str(tmp_path), download=False)
