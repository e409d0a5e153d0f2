"""Genotype strings, JSON, derivation from alpha, and the benchmark look-up."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.errors import DataNotFoundError
from nasjax.genotype import NB201_OPS, GenotypeError, NB201Genotype
from nasjax.nb201 import BenchmarkTableError, NB201Table
from nasjax.spaces import nb201


def test_every_benchmark_string_round_trips(nb201_table_path):
  table = NB201Table.load(nb201_table_path)
  strings = table.arch_strings()
  assert len(strings) == 15625 == len(set(strings))
  for s in strings:
    g = NB201Genotype.from_string(s)
    assert g.to_string() == s
    assert NB201Genotype.from_json(g.to_json()) == g
    assert NB201Genotype.from_edges(g.edges) == g
  # Every op combination appears exactly once: 5**6 cells.
  assert len({NB201Genotype.from_string(s).edges for s in strings}) == len(NB201_OPS) ** 6


@pytest.mark.parametrize(
  "bad",
  [
    "",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",  # two nodes
    "|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # wrong input
    "|conv_9x9~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # unknown op
    "|nor_conv_3x3-0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # separator
  ],
)
def test_malformed_strings_are_rejected(bad):
  with pytest.raises(GenotypeError):
    NB201Genotype.from_string(bad)


def test_json_form_is_explicit_and_checked():
  g = NB201Genotype.from_edges(
    ["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
  )
  data = json.loads(g.to_json())
  assert data["space"] == "nb201"
  assert data["arch_str"] == (
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"
  )
  assert data["nodes"][2] == [["avg_pool_3x3", 0], ["nor_conv_1x1", 1], ["nor_conv_3x3", 2]]
  data["nodes"][0][0][0] = "none"
  with pytest.raises(GenotypeError, match="disagree"):
    NB201Genotype.from_dict(data)
  with pytest.raises(GenotypeError, match="space"):
    NB201Genotype.from_dict({"space": "darts", "arch_str": g.to_string()})
  with pytest.raises(GenotypeError, match="JSON"):
    NB201Genotype.from_json("{not json")


def test_derivation_is_argmax_excluding_none():
  # Columns: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
  alpha = np.array(
    [
      [5.0, 0.1, 0.2, 0.3, 1.0],  # `none` largest, then avg_pool
      [0.0, 0.0, 1.0, 0.5, 0.0],
      [0.0, 0.0, 0.5, 1.0, 0.0],
      [0.0, 0.0, 2.0, 1.0, 0.0],
      [3.0, 1.0, 0.0, 0.0, 0.5],  # `none` largest, then skip
      [0.0, 0.1, 0.0, 0.0, 0.2],
    ]
  )
  g = nb201.derive_genotype({"cell": jnp.asarray(alpha)})
  assert g.edges == (
    "avg_pool_3x3",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "nor_conv_1x1",
    "skip_connect",
    "avg_pool_3x3",
  )
  plain = nb201.derive_genotype({"cell": jnp.asarray(alpha)}, exclude_none=False)
  assert plain.edges == ("none",) + g.edges[1:4] + ("none",) + g.edges[5:]


def test_derivation_with_an_op_subset():
  ops = ("skip_connect", "nor_conv_3x3")
  alpha = jnp.array([[1.0, 0.0], [0.0, 1.0]] * 3)
  g = nb201.derive_genotype({"cell": alpha}, ops)
  assert g.edges == ("skip_connect", "nor_conv_3x3") * 3


def test_lookup_matches_the_published_figures(nb201_table_path):
  table = NB201Table.load(nb201_table_path)
  best_c100 = table.lookup(
    NB201Genotype.from_string(
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
      "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
  )
  assert best_c100.index == 9930
  assert (best_c100.cifar10_test, best_c100.cifar100_test, best_c100.imagenet16_test) == (
    pytest.approx(94.3633, abs=1e-4),
    pytest.approx(73.5133, abs=1e-4),
    pytest.approx(46.3444, abs=1e-4),
  )
  assert best_c100.params_M == pytest.approx(1.288506)
  # DARTS' collapse: the all-skip cell, as in the benchmark paper's DARTS-V1 row.
  collapse = table.lookup(
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|"
    "+|skip_connect~0|skip_connect~1|skip_connect~2|"
  )
  assert collapse.index == 1835
  assert (collapse.cifar10_valid, collapse.cifar10_test) == (
    pytest.approx(39.77, abs=0.01),
    pytest.approx(54.30, abs=0.01),
  )
  assert table.best("cifar10_test").index == 6111
  assert table.by_index(11472).cifar10_test == pytest.approx(93.91, abs=0.01)


def test_missing_or_bad_table_gives_a_clear_error(tmp_path, monkeypatch):
  monkeypatch.delenv("NASJAX_NB201_TABLE", raising=False)
  with pytest.raises(DataNotFoundError, match="nb201.csv.gz"):
    NB201Table.load(tmp_path / "nowhere.csv.gz")
  with pytest.raises(DataNotFoundError, match=str(tmp_path)):
    NB201Table.load(tmp_path)  # a folder without the table
  bad = tmp_path / "nb201.csv.gz"
  bad.write_bytes(b"not gzip at all")
  with pytest.raises(BenchmarkTableError, match="cannot read"):
    NB201Table.load(bad)
  plain = tmp_path / "other.csv"
  plain.write_text("a,b\n1,2\n")
  with pytest.raises(BenchmarkTableError, match="lacks column"):
    NB201Table.load(plain)


def test_unknown_architecture_is_reported(nb201_table_path):
  table = NB201Table.load(nb201_table_path)
  with pytest.raises(GenotypeError):
    table.lookup("|bogus~0|")
