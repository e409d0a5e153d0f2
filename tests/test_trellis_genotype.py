"""The trellis space without networks: layout, Viterbi decoding, genotypes, their weights."""

import itertools
import json

import jax
import ml_collections
import numpy as np
import pytest

from nasjax.spaces import get_space
from nasjax.spaces.darts.genotype import DARTS_OPS
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import genotype_from_dict, load_genotype
from nasjax.spaces.trellis import layout as layout
from nasjax.spaces.trellis import space as T
from nasjax.spaces.trellis import space_config
from nasjax.spaces.trellis.genotype import TrellisGenotype

TINY = dict(
  layers=3, blocks=2, filter_multiplier=2, levels=3, stem_channels=4, aspp_channels=8, aspp_rate=4,
  num_classes=5,
)  # fmt: skip
# Up, down and same moves, a cell with s0 and cells without it that use input 0; all 7 ops.
G_UP = TrellisGenotype.from_string(
  "path=1,2,1;cell=max_pool_3x3~0,sep_conv_5x5~1|skip_connect~1,dil_conv_5x5~2"
)
G_SAME = TrellisGenotype.from_string(
  "path=0,0,1;cell=sep_conv_3x3~0,avg_pool_3x3~1|dil_conv_3x3~0,max_pool_3x3~2"
)


def tiny_cfg(**fields):
  return ml_collections.ConfigDict({**space_config.DEFAULTS, **TINY, **fields})


def softmax_weights(cfg, seed=1, scale=1.0):
  rng = np.random.default_rng(seed)
  return {
    k: np.array(jax.nn.softmax(scale * rng.normal(size=s)), np.float32)
    for k, s in T.alpha_shapes(cfg).items()
  }


def test_node_existence_and_transitions():
  layers, levels = 4, 3
  nodes = {(layer, s) for layer in range(layers) for s in layout.levels_at(layer, levels)}
  assert nodes == {(0, 0), (0, 1), *((layer, s) for layer in (1, 2, 3) for s in range(3))}
  trs = layout.transitions(layers, levels)
  assert len(set(trs)) == len(trs)
  for layer, t, s in trs:
    assert abs(s - t) <= 1  # never skips a level
    assert (layer, s) in nodes and ((layer - 1, t) in nodes or (layer, t) == (0, 0))
  # every pair of nodes in consecutive layers at most one level apart is a transition
  expected = {
    (layer, t, s)
    for layer in range(layers)
    for t in ((0,) if layer == 0 else layout.levels_at(layer - 1, levels))
    for s in layout.levels_at(layer, levels)
    if abs(s - t) <= 1
  }
  assert set(trs) == expected
  # stem: 2; layer 0 -> 1: 2 + 3; then (2 + 3 + 2) per layer
  assert len(trs) == 2 + 5 + 7 + 7


def test_alpha_rows_group_sources_by_arity():
  cfg = space_config.default_space_config()
  # network2: stem, (0,0), (1,0), then levels 0 and 3 of layers 2..10; network3 the rest.
  assert T.alpha_shapes(cfg) == {"cell": (20, 8), "network2": (21, 2), "network3": (21, 3)}
  rows = layout.source_rows(3, 3)
  assert rows == {
    (-1, 0): ("network2", 0),
    (0, 0): ("network2", 1),
    (0, 1): ("network3", 0),
    (1, 0): ("network2", 2),
    (1, 1): ("network3", 1),
    (1, 2): ("network2", 3),
  }
  moves = T.edge_op_names(tiny_cfg())
  assert moves["network2"] == (("same", "down"),) * 3 + (("up", "same"),)
  assert moves["network3"] == (("up", "same", "down"),) * 2
  assert moves["cell"] == (DARTS_OPS,) * 5
  # two levels: no source has three moves, so there is no network3 tensor
  assert T.alpha_shapes(tiny_cfg(levels=2)) == {"cell": (5, 8), "network2": (5, 2)}
  assert T.alpha_shapes(tiny_cfg(ops=("skip_connect", "none"))) == {
    "cell": (5, 2),
    "network2": (4, 2),
    "network3": (2, 3),
  }
  assert T.op_names(tiny_cfg(ops=("skip_connect", "none"))) == ("none", "skip_connect")


# -- Viterbi ------------------------------------------------------------------------------------


def _brute_force(probs, layers, levels):
  index = layout.transition_index(layers, levels)
  best, best_path = -np.inf, None
  for path in itertools.product(range(levels), repeat=layers):
    trs = [(layer, path[layer - 1] if layer else 0, s) for layer, s in enumerate(path)]
    if any(tr not in index for tr in trs):
      continue
    with np.errstate(divide="ignore"):
      score = sum(np.log(probs[index[tr][0]][index[tr][1:]]) for tr in trs)
    if score > best:
      best, best_path = score, path
  return best_path


def test_viterbi_beats_greedy_on_hand_made_weights():
  # 2 layers, 3 levels; rows: stem (same, down), (0, 0) (same, down), (0, 1) (up, same, down).
  probs = {
    "network2": np.array([[0.6, 0.4], [0.5, 0.5]]),
    "network3": np.array([[0.05, 0.05, 0.9]]),
  }
  # greedy: stem -> 0 (0.6), then 0.5 -> 0.3; Viterbi: stem -> 1 (0.4) -> 2 (0.9) = 0.36
  assert layout.viterbi_path(probs, 2, 3) == (1, 2)
  probs["network3"] = np.array([[0.1, 0.2, 0.7]])  # 0.4 * 0.7 = 0.28 < 0.3
  assert layout.viterbi_path(probs, 2, 3) == (0, 0)


def test_viterbi_ties_go_to_the_lower_level():
  shapes = layout.network_shapes(3, 3)
  uniform = {k: np.full(s, 1.0 / s[1]) for k, s in shapes.items()}
  # every 2-move row gives 1/2 and every 3-move row 1/3: (0, 0, 0) has the best product
  assert layout.viterbi_path(uniform, 3, 3) == (0, 0, 0)
  flat = {k: np.ones(s) for k, s in shapes.items()}
  assert layout.viterbi_path(flat, 3, 3) == (0, 0, 0)  # all paths tie


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_matches_brute_force(seed):
  layers, levels = 5, 4
  rng = np.random.default_rng(seed)
  probs = {
    k: np.asarray(jax.nn.softmax(2 * rng.normal(size=s)))
    for k, s in layout.network_shapes(layers, levels).items()
  }
  assert layout.viterbi_path(probs, layers, levels) == _brute_force(probs, layers, levels)


def test_viterbi_rejects_wrong_shapes():
  with pytest.raises(ValueError, match="shapes"):
    layout.viterbi_path({"network2": np.ones((2, 2))}, 2, 3)


# -- genotypes ----------------------------------------------------------------------------------


def test_genotype_string_round_trip(tmp_path):
  text = "trellis:path=0,1,1,2;cell=sep_conv_3x3~1,skip_connect~0|dil_conv_3x3~2,max_pool_3x3~0"
  g = TrellisGenotype.from_string(text)
  assert g.path == (0, 1, 1, 2) and g.blocks == 2 and g.layers == 4
  assert g.cell == (
    ("skip_connect", 0),
    ("sep_conv_3x3", 1),
    ("max_pool_3x3", 0),
    ("dil_conv_3x3", 2),
  )
  assert TrellisGenotype.from_string(str(g)) == g
  assert TrellisGenotype.from_string(text.removeprefix("trellis:")) == g
  assert TrellisGenotype.from_json(g.to_json()) == g == genotype_from_dict(g.to_dict())
  assert genotype_from_dict({"space": "trellis", "cell": g.cell, "path": g.path}) == g
  (tmp_path / "g.txt").write_text(str(g))
  (tmp_path / "g.json").write_text(json.dumps({"genotype": g.to_dict()}))
  assert load_genotype(tmp_path / "g.txt") == g == load_genotype(tmp_path / "g.json")
  assert get_space("trellis").parse_genotype(str(g)) == g


@pytest.mark.parametrize(
  "text,match",
  [
    ("path=0,2;cell=skip_connect~0,sep_conv_3x3~1", "at most one level"),
    ("path=1,-1;cell=skip_connect~0,sep_conv_3x3~1", "levels like"),
    ("path=0;cell=none~0,sep_conv_3x3~1", "unknown trellis cell op"),
    ("path=0;cell=skip_connect~1,sep_conv_3x3~1", "twice"),
    ("path=0;cell=skip_connect~0,sep_conv_3x3~2", "inputs 0..1"),
    ("path=0;cell=skip_connect~0", "two 'op~j' pairs"),
    ("path=0;cell=skip_connect0,sep_conv_3x3~1", "malformed pair"),
    ("path=0", "trellis:path="),
  ],
)
def test_genotype_errors(text, match):
  with pytest.raises(GenotypeError, match=match):
    TrellisGenotype.from_string(text)


def test_genotype_dict_errors():
  g = G_UP.to_dict()
  with pytest.raises(GenotypeError, match="disagree"):
    TrellisGenotype.from_dict({**g, "path": [0, 0, 0]})
  with pytest.raises(GenotypeError, match="not for space"):
    TrellisGenotype.from_dict({**g, "space": "darts"})


@pytest.mark.parametrize("genotype", [G_UP, G_SAME])
def test_derive_inverts_genotype_weights(genotype):
  cfg = tiny_cfg()
  weights = T.genotype_weights(genotype, cfg)
  assert {k: v.shape for k, v in weights.items()} == T.alpha_shapes(cfg)
  assert weights["cell"].sum() == 4
  assert weights["network2"].sum() + weights["network3"].sum() == genotype.layers
  assert T.derive_genotype(weights, cfg) == genotype


def test_derive_genotype_uses_darts_rule_and_viterbi():
  cfg = tiny_cfg()
  probs = softmax_weights(cfg, seed=3, scale=3.0)
  g = T.derive_genotype(probs, cfg)
  assert g.path == layout.viterbi_path(probs, 3, 3) == _brute_force(probs, 3, 3)
  cell = probs["cell"].copy()
  cell[:, 0] = -1  # 'none' never chosen
  # block 0 keeps both inputs; block 1 the two of inputs 0..2 whose best op weighs most
  best = cell.max(axis=1)
  keep = sorted(sorted(range(2, 5), key=lambda e: -best[e])[:2])
  expected = [(DARTS_OPS[int(cell[e].argmax())], j) for e, j in ((0, 0), (1, 1))]
  expected += [(DARTS_OPS[int(cell[e].argmax())], e - 2) for e in keep]
  assert g.cell == tuple(expected)


def test_genotype_weights_check_the_config():
  with pytest.raises(GenotypeError, match="layers"):
    T.genotype_weights(G_UP, tiny_cfg(layers=4))
  with pytest.raises(GenotypeError, match="levels"):
    T.genotype_weights(G_UP, tiny_cfg(levels=2))
  with pytest.raises(GenotypeError, match="blocks"):
    T.genotype_weights(G_UP, tiny_cfg(blocks=3))
  with pytest.raises(GenotypeError, match="max_pool_3x3"):
    T.genotype_weights(G_UP, tiny_cfg(ops=("none", "sep_conv_5x5", "skip_connect", "dil_conv_5x5")))


# -- supernet and decoded network ---------------------------------------------------------------
