"""Discretisation error: one-hot genotype weights, weighted evaluation, BN recalibration."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import normalized_batch, tiny_config

from nasjax.config.protocols import darts_space
from nasjax.core import discretization
from nasjax.core.setup import make_search_setup
from nasjax.spaces import get_space, ops
from nasjax.spaces.darts.genotype import DARTS_V1, DARTS_V2, PC_DARTS, DartsGenotype
from nasjax.spaces.genotype import GenotypeError
from nasjax.tasks.classification import data as data_lib
from nasjax.tasks.classification import datasets

NB201 = get_space("nb201")
DARTS = get_space("darts")
GENOTYPE = NB201.parse_genotype(
  "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
)


def _darts_cfg(op_set="darts", **fields):
  cfg = darts_space(op_set)
  cfg.channels, cfg.layers = 4, 3
  cfg.update(fields)
  return cfg


def _canonical(g: DartsGenotype) -> DartsGenotype:
  """``g`` with each node's two pairs listed lower input first (the order one-hot rows give)."""

  def cell(pairs):
    return tuple(
      p for k in range(0, len(pairs), 2) for p in sorted(pairs[k : k + 2], key=lambda p: p[1])
    )

  return dataclasses.replace(g, normal=cell(g.normal), reduce=cell(g.reduce))


# -- genotype_weights -------------------------------------------------------------------------


@pytest.mark.parametrize(
  "arch",
  [
    str(GENOTYPE),
    "|skip_connect~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|nor_conv_1x1~2|",
  ],
)
def test_nb201_genotype_weights_round_trip(arch):
  cfg = tiny_config().space
  g = NB201.parse_genotype(arch)
  w = NB201.genotype_weights(g, cfg)
  assert w["cell"].shape == (6, 5) and w["cell"].dtype == np.float32
  np.testing.assert_array_equal(w["cell"].sum(axis=1), np.ones(6))
  assert [NB201.op_names(cfg)[k] for k in w["cell"].argmax(axis=1)] == list(g.edges)
  assert NB201.derive_genotype(w, cfg) == g
  # Columns follow the space's ops: without nor_conv_1x1 the pool is column 3.
  cfg.ops = ("none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3")
  g2 = NB201.parse_genotype(
    "|avg_pool_3x3~0|+" + arch.split("+", 1)[1].replace("nor_conv_1x1", "nor_conv_3x3")
  )
  w2 = NB201.genotype_weights(g2, cfg)
  assert w2["cell"].shape == (6, 4) and w2["cell"][0].tolist() == [0, 0, 0, 1]
  assert NB201.derive_genotype(w2, cfg) == g2
  with pytest.raises(GenotypeError, match="nor_conv_1x1"):
    NB201.genotype_weights(
      NB201.parse_genotype(arch.replace("skip_connect~0", "nor_conv_1x1~0")), cfg
    )


@pytest.mark.parametrize("genotype", [DARTS_V1, DARTS_V2, PC_DARTS], ids=["v1", "v2", "pc"])
def test_darts_genotype_weights_round_trip(genotype):
  cfg = _darts_cfg()
  w = DARTS.genotype_weights(genotype, cfg)
  for kind in ("normal", "reduce"):
    assert w[kind].shape == (14, 8) and w[kind].dtype == np.float32
    assert set(np.unique(w[kind])) <= {0.0, 1.0} and w[kind].sum() == 8
    assert w[kind].sum(axis=1).max() == 1  # one op per kept edge, dropped edges all zero
  # DARTS_V2's normal node 2 takes ('sep_conv_3x3', 1) then ('skip_connect', 0): edge 5 <- input 0.
  if genotype is DARTS_V2:
    assert w["normal"][5].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert w["normal"][6].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]
    assert w["normal"][7].sum() == 0
  derived = DARTS.derive_genotype(w, cfg)
  # One-hot rows tie, so a node's pairs come back lower input first; the cells are the same.
  assert derived == _canonical(genotype)
  assert DARTS.genotype_weights(derived, cfg)["normal"].tolist() == w["normal"].tolist()
  assert DARTS.derive_genotype(DARTS.genotype_weights(derived, cfg), cfg) == derived


@pytest.mark.parametrize("op_set", ["darts", "s1", "s3"])
def test_darts_derived_genotypes_round_trip(op_set):
  """Genotypes derived from random probabilities (and betas) come back as the same cells."""
  cfg = _darts_cfg(op_set)
  rng = np.random.default_rng(0)
  shapes = DARTS.alpha_shapes(cfg)
  per_edge = DARTS.ops_per_row(cfg)
  for trial in range(5):
    probs = {k: rng.dirichlet(np.ones(s[1]), size=s[0]) for k, s in shapes.items()}
    betas = {k: rng.normal(size=s[0]) for k, s in shapes.items()} if trial % 2 else None
    g = DARTS.derive_genotype(probs, cfg, betas)
    w = DARTS.genotype_weights(g, cfg)
    back = DARTS.derive_genotype(w, cfg)
    assert back == _canonical(g)  # derivation lists a node's best edge first; one-hot rows tie
    assert DARTS.derive_genotype(DARTS.genotype_weights(back, cfg), cfg) == back
    for kind in ("normal", "reduce"):
      rows = np.flatnonzero(w[kind].sum(axis=1))
      ops_kept = sorted(per_edge[kind][e][int(np.argmax(w[kind][e]))] for e in rows)
      assert ops_kept == sorted(op for op, _ in getattr(g, kind))
  if op_set == "s1":  # ops differ per edge; reduce edge 6 (node 2 <- 1): max_pool, sep_conv_3x3
    reduce = (
      ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
      ("avg_pool_3x3", 0), ("skip_connect", 2),
      ("max_pool_3x3", 0), ("sep_conv_3x3", 1),
      ("dil_conv_5x5", 3), ("skip_connect", 4),
    )  # fmt: skip
    g = dataclasses.replace(g, reduce=reduce)
    w = DARTS.genotype_weights(g, cfg)
    assert w["reduce"][6].tolist() == [0, 1] and w["reduce"][4].tolist() == [1, 0]
    assert w["reduce"][2].tolist() == [0, 1] and w["reduce"][3].tolist() == [0, 0]
    assert DARTS.derive_genotype(w, cfg) == _canonical(g)
    bad = dataclasses.replace(g, reduce=(("sep_conv_3x3", 0),) + reduce[1:])
    with pytest.raises(GenotypeError, match="not a candidate on edge 0"):
      DARTS.genotype_weights(bad, cfg)


def test_darts_genotype_weights_errors():
  cfg = _darts_cfg()
  twice = dataclasses.replace(
    DARTS_V2, normal=(("sep_conv_3x3", 0), ("skip_connect", 0)) + DARTS_V2.normal[2:]
  )
  with pytest.raises(GenotypeError, match="twice"):
    DARTS.genotype_weights(twice, cfg)
  with pytest.raises(GenotypeError, match="normal_concat"):
    DARTS.genotype_weights(dataclasses.replace(DARTS_V2, normal_concat=(2, 3)), cfg)
  cfg.steps = 3
  cfg.multiplier = 3
  with pytest.raises(GenotypeError, match="steps is 3"):
    DARTS.genotype_weights(DARTS_V2, cfg)


# -- the tiny NB201 supernet ------------------------------------------------------------------


@pytest.fixture(scope="module")
def nb201(cifar_subset):
  config = tiny_config()
  config.data.source = "npz"
  setup = make_search_setup(config, steps_per_epoch=10)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  alphas = {"cell": 2.0 * jax.random.normal(jax.random.key(1), (6, 5))}
  state = state.replace(alphas=alphas)
  batches = [normalized_batch(cifar_subset, 8 * k, 8) for k in range(6)]
  search_data = data_lib.SearchData(datasets.load_dataset(config.data), config.data, 0, 8)
  return setup, state, batches, search_data


def _hand_metrics(setup, state, weights, batches, train):
  """Example-weighted loss and accuracy from plain ``model.apply`` calls."""
  losses, hits, counts = [], [], []
  for batch in batches:
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    out = setup.model.apply(
      variables,
      jnp.asarray(batch["image"]),
      weights,
      train=train,
      mutable=["batch_stats"] if train else False,
    )
    logits = out[0] if train else out
    w = np.asarray(batch.get("weight", np.ones(len(batch["label"]))), np.float64)
    ce = np.asarray(
      optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(batch["label"]))
    )
    losses.append(np.sum(w * ce))
    hits.append(np.sum(w * (np.asarray(logits).argmax(-1) == batch["label"])))
    counts.append(np.sum(w))
  return {"loss": sum(losses) / sum(counts), "acc": sum(hits) / sum(counts), "count": sum(counts)}


def test_evaluate_weights_matches_a_hand_computation(nb201):
  setup, state, batches, _ = nb201
  weights = NB201.genotype_weights(GENOTYPE, setup.config.space)
  second = dict(batches[5], weight=np.array([1, 1, 1, 0, 0, 1, 0, 1], np.float32))
  program = discretization._eval_fn(setup.model, "batch", setup.task)
  compiled_before = program._cache_size()
  got = discretization.evaluate_weights(
    setup, state.params, state.batch_stats, weights, {}, [batches[3], second], bn="batch"
  )
  want = _hand_metrics(setup, state, weights, [batches[3], second], train=True)
  assert got["count"] == 13.0
  np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-5)
  assert got["acc"] == pytest.approx(want["acc"], abs=1e-6) and want["acc"] > 0
  # A batch of junk at weight 0 changes nothing.
  junk = {
    "image": np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32) * 5,
    "label": np.arange(8) % 10,
    "weight": np.zeros(8, np.float32),
  }
  again = discretization.evaluate_weights(
    setup, state.params, state.batch_stats, weights, None, iter([batches[3], second, junk])
  )
  assert again == got
  # The weights are data: the supernet's probabilities give other figures from the same program.
  probs = setup.relaxation.probs(state.alphas)
  mixed = discretization.evaluate_weights(
    setup, state.params, state.batch_stats, probs, {}, batches[:1]
  )
  want_mixed = _hand_metrics(setup, state, probs, batches[:1], train=True)
  np.testing.assert_allclose(mixed["loss"], want_mixed["loss"], rtol=1e-5)
  assert abs(mixed["loss"] - _hand_metrics(setup, state, weights, batches[:1], True)["loss"]) > 1e-4
  assert program._cache_size() <= compiled_before + 1  # one program for every set of weights
  with pytest.raises(ValueError, match="bn must be one of"):
    discretization.evaluate_weights(
      setup, state.params, state.batch_stats, weights, {}, batches, bn="eval"
    )
  with pytest.raises(ValueError, match="no example"):
    discretization.evaluate_weights(setup, state.params, state.batch_stats, weights, {}, [junk])


def test_recalibrated_statistics_are_the_average_of_batch_statistics(nb201):
  setup, state, batches, _ = nb201
  weights = NB201.genotype_weights(GENOTYPE, setup.config.space)
  model, stats = discretization.recalibrate_bn(setup, state.params, weights, {}, batches[:2])
  assert model.track_running_stats and not setup.model.track_running_stats
  cell_bn = stats["stage_0"]["from_0_nor_conv_1x1"]["BatchNorm_0"]
  assert cell_bn["mean"].shape == (1, 12)  # one scanned cell, 3 outgoing edges x C
  stem = ops.Stem(4)
  p = state.params
  means, variances, stem_means = [], [], []
  for batch in batches[:2]:
    x = jnp.asarray(batch["image"])
    h, _ = stem.apply(
      {"params": p["stem"], "batch_stats": state.batch_stats["stem"]},
      x,
      True,
      mutable=["batch_stats"],
    )
    stem_means.append(
      np.asarray(ops.Conv2D(4, 3, padding=1).apply({"params": p["stem"]["conv"]}, x)).mean(
        (0, 1, 2)
      )
    )
    kernel = p["stage_0"]["from_0_nor_conv_1x1"]["Conv2D_0"]["kernel"][0, 0, 0]  # (C, 3C)
    y = np.einsum(
      "nhwc,cd->nhwd", np.maximum(np.asarray(h, np.float64), 0), np.asarray(kernel, np.float64)
    )
    means.append(y.mean((0, 1, 2)))
    variances.append(y.reshape(-1, 12).var(axis=0, ddof=1))
  np.testing.assert_allclose(cell_bn["mean"][0], np.mean(means, 0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(cell_bn["var"][0], np.mean(variances, 0), rtol=1e-4)
  np.testing.assert_allclose(
    stats["stem"]["bn"]["mean"], np.mean(stem_means, 0), rtol=1e-4, atol=1e-6
  )
  # The per-batch statistics differ, so the average is not just one batch's.
  assert np.abs(means[0] - means[1]).max() > 1e-3


#: The spatial size each BN of the tiny NB201 supernet sees (by top-level module).
_SIDE = {
  "stem": 32,
  "stage_0": 32,
  "reduce_1": 16,
  "stage_1": 16,
  "reduce_2": 8,
  "stage_2": 8,
  "head": 8,
}


def test_running_statistics_of_one_batch_reproduce_batch_statistics(nb201):
  setup, state, batches, _ = nb201
  weights = NB201.genotype_weights(GENOTYPE, setup.config.space)
  batch = batches[2]
  model, stats = discretization.recalibrate_bn(setup, state.params, weights, {}, [batch])
  by_batch = discretization.evaluate_weights(
    setup, state.params, state.batch_stats, weights, {}, [batch]
  )
  running = discretization.evaluate_weights(
    setup, state.params, stats, weights, {}, [batch], "running", model=model
  )
  # Running variances are unbiased (n / (n - 1) times the batch variance BN normalises with).
  np.testing.assert_allclose(running["loss"], by_batch["loss"], rtol=2e-3)

  def biased(path, leaf):
    keys = [k.key for k in path]
    if keys[-1] != "var":
      return leaf
    n = 8 * _SIDE[keys[0]] ** 2
    return leaf * (n - 1) / n

  exact = jax.tree_util.tree_map_with_path(biased, stats)
  corrected = discretization.evaluate_weights(
    setup, state.params, exact, weights, {}, [batch], "running", model=model
  )
  np.testing.assert_allclose(corrected["loss"], by_batch["loss"], rtol=2e-5)
  assert corrected["acc"] == by_batch["acc"]
  assert abs(running["loss"] - by_batch["loss"]) > 5 * abs(corrected["loss"] - by_batch["loss"])
  # With running statistics examples are independent: zero-weight filler in the batch is ignored.
  junk = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype(np.float32)
  halves = [
    {
      "image": np.concatenate([batch["image"][k : k + 4], junk]),
      "label": np.concatenate([batch["label"][k : k + 4], np.zeros(4, np.int32)]),
      "weight": np.repeat(np.float32([1, 0]), 4),
    }
    for k in (0, 4)
  ]
  split = discretization.evaluate_weights(
    setup, state.params, stats, weights, {}, halves, "running", model=model
  )
  np.testing.assert_allclose(split["loss"], running["loss"], rtol=1e-5)
  assert split["acc"] == running["acc"] and split["count"] == 8.0


def test_discretization_error(nb201):
  setup, state, _, search_data = nb201
  eval_batches = lambda: search_data.half_batches("alpha", 8, limit=20)  # noqa: E731
  recal_batches = lambda: search_data.half_batches("weight", 8, limit=16)  # noqa: E731
  out = discretization.discretization_error(setup, state, eval_batches, recal_batches)
  assert set(out) == {
    f"discretization/{k}"
    for k in (
      "supernet_acc",
      "supernet_loss",
      "derived_acc",
      "derived_loss",
      "derived_recal_acc",
      "derived_recal_loss",
      "gap",
      "gap_recal",
    )
  }
  assert all(np.isfinite(v) for v in out.values())
  cfg = setup.config.space
  probs = setup.relaxation.probs(state.alphas)
  one_hot = NB201.genotype_weights(NB201.derive_genotype(probs, cfg), cfg)
  p, s = state.params, state.batch_stats
  supernet = discretization.evaluate_weights(setup, p, s, probs, {}, eval_batches)
  derived = discretization.evaluate_weights(setup, p, s, one_hot, {}, eval_batches)
  assert supernet["count"] == 20.0
  assert out["discretization/supernet_loss"] == pytest.approx(supernet["loss"], rel=1e-6)
  assert out["discretization/derived_loss"] == pytest.approx(derived["loss"], rel=1e-6)
  assert abs(supernet["loss"] - derived["loss"]) > 1e-3  # random alphas: a real discretisation step
  assert out["discretization/gap"] == pytest.approx(supernet["acc"] - derived["acc"])
  model, stats = discretization.recalibrate_bn(setup, p, one_hot, {}, recal_batches())
  recal = discretization.evaluate_weights(
    setup, p, stats, one_hot, {}, list(eval_batches()), "running", model=model
  )
  assert out["discretization/derived_recal_loss"] == pytest.approx(recal["loss"], rel=1e-6)
  assert out["discretization/gap_recal"] == pytest.approx(supernet["acc"] - recal["acc"])

  # Probabilities that are already one-hot: the supernet is the derived network.
  logits = jnp.asarray(100.0 * one_hot["cell"] - 50.0)
  sharp = discretization.discretization_error(
    setup, state.replace(alphas={"cell": logits}), eval_batches, recal_batches
  )
  assert sharp["discretization/gap"] == 0.0
  assert sharp["discretization/supernet_acc"] == sharp["discretization/derived_acc"]
  np.testing.assert_allclose(
    sharp["discretization/supernet_loss"], sharp["discretization/derived_loss"], rtol=1e-6
  )
  assert sharp["discretization/derived_loss"] == pytest.approx(
    out["discretization/derived_loss"], rel=1e-6
  )


@pytest.mark.slow
def test_discretization_error_darts_edge_normalization_partial_channels(cifar_subset):
  """RobustDARTS S4 (noise op) with PC-DARTS' partial channels and edge normalisation."""
  config = tiny_config()
  config.space = _darts_cfg("s4", partial_channels=2, edge_normalization=True)
  setup = make_search_setup(config, steps_per_epoch=10)
  state = setup.init(jax.random.key(0), (32, 32, 3))
  shapes = DARTS.alpha_shapes(config.space)
  keys = jax.random.split(jax.random.key(3), 4)
  state = state.replace(
    alphas={k: 2.0 * jax.random.normal(keys[i], s) for i, (k, s) in enumerate(shapes.items())},
    betas={
      k: 2.0 * jax.random.normal(keys[2 + i], s[:1]) for i, (k, s) in enumerate(shapes.items())
    },
  )
  eval_batches = [normalized_batch(cifar_subset, 8 * k, 8) for k in range(2)]
  recal_batches = [normalized_batch(cifar_subset, 100 + 8 * k, 8) for k in range(2)]
  out = discretization.discretization_error(setup, state, eval_batches, recal_batches)
  assert all(np.isfinite(v) for v in out.values())
  probs = setup.relaxation.probs(state.alphas)
  genotype = DARTS.derive_genotype(probs, config.space, state.betas)
  one_hot = DARTS.genotype_weights(genotype, config.space)
  p, s = state.params, state.batch_stats
  supernet = discretization.evaluate_weights(setup, p, s, probs, state.betas, eval_batches)
  derived = discretization.evaluate_weights(setup, p, s, one_hot, {}, eval_batches)
  assert out["discretization/supernet_loss"] == pytest.approx(supernet["loss"], rel=1e-6)
  assert out["discretization/derived_loss"] == pytest.approx(derived["loss"], rel=1e-6)
  # The betas matter: without them the supernet computes something else.
  no_betas = discretization.evaluate_weights(setup, p, s, probs, {}, eval_batches)
  assert abs(no_betas["loss"] - supernet["loss"]) > 1e-4
  model, stats = discretization.recalibrate_bn(setup, p, one_hot, None, recal_batches)
  assert model.partial_channels == 2 and model.track_running_stats
  recal = discretization.evaluate_weights(
    setup, p, stats, one_hot, {}, eval_batches, "running", model=model
  )
  assert out["discretization/derived_recal_loss"] == pytest.approx(recal["loss"], rel=1e-6)
