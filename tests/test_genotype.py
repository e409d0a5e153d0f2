"""Genotype strings, JSON, derivation from alpha, and the benchmark look-up."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.errors import DataNotFoundError
from nasjax.spaces.darts.genotype import DARTS_V1, DARTS_V2, PC_DARTS, DartsGenotype
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.nb201 import supernet as nb201
from nasjax.spaces.nb201.benchmark import BenchmarkTableError, NB201Table
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype
from nasjax.spaces.registry import load_genotype


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


# The published forms, as written in the DARTS and PC-DARTS code bases' genotypes.py.
PUBLISHED_DARTS_V2 = (
  "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
  "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
  "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
  "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
  "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
PUBLISHED_PC_DARTS = (
  "Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), "
  "('dil_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), "
  "('dil_conv_3x3', 1)], normal_concat=range(2, 6), reduce=[('sep_conv_5x5', 1), "
  "('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2), ('sep_conv_3x3', 0), "
  "('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)], reduce_concat=range(2, 6))"
)


def test_published_darts_strings_parse_exactly():
  assert DartsGenotype.from_string(PUBLISHED_DARTS_V2) == DARTS_V2
  assert DartsGenotype.from_string(PUBLISHED_PC_DARTS) == PC_DARTS
  # The canonical form writes contiguous concats as range(...), as PC-DARTS does.
  assert PC_DARTS.to_string() == PUBLISHED_PC_DARTS
  assert DARTS_V2.to_string() == PUBLISHED_DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")
  assert DARTS_V2.normal[7] == ("dil_conv_3x3", 2) and DARTS_V2.reduce_concat == (2, 3, 4, 5)
  assert DARTS_V1.reduce[7] == ("avg_pool_3x3", 0) and DARTS_V1.steps == 4
  # Positional fields and whitespace are accepted.
  normal, reduce = repr(list(PC_DARTS.normal)), repr(list(PC_DARTS.reduce))
  plain = f"Genotype(\n  {normal},\n  [2, 3, 4, 5], {reduce}, range(2, 6))"
  assert DartsGenotype.from_string(plain) == PC_DARTS


@pytest.mark.parametrize("genotype", [DARTS_V1, DARTS_V2, PC_DARTS])
def test_published_darts_genotypes_round_trip(genotype):
  assert DartsGenotype.from_string(genotype.to_string()) == genotype
  assert DartsGenotype.from_string(str(genotype)) == genotype
  assert DartsGenotype.from_json(genotype.to_json()) == genotype
  data = json.loads(genotype.to_json())
  assert data["space"] == "darts" and data["normal"][0] == list(genotype.normal[0])
  del data["arch_str"]
  assert DartsGenotype.from_dict(data) == genotype


def _replace(text: str, old: str, new: str) -> str:
  assert old in text
  return text.replace(old, new, 1)


@pytest.mark.parametrize(
  "bad, match",
  [
    ("", "malformed"),
    ("Genotype(normal=[", "malformed"),
    (PUBLISHED_PC_DARTS.replace("Genotype(", "Genome("), "Genotype"),
    (_replace(PUBLISHED_PC_DARTS, ", reduce_concat=range(2, 6)", ""), "reduce_concat"),
    # 6 pairs describe a 3-node cell, whose states end at 4.
    (_replace(PUBLISHED_PC_DARTS, "('sep_conv_3x3', 1), ('skip_connect', 0), ", ""), "concat"),
    (
      _replace(
        PUBLISHED_PC_DARTS, "('sep_conv_3x3', 1), ('skip_connect', 0)", "('sep_conv_3x3', 1)"
      ),
      "pairs",
    ),
    (_replace(PUBLISHED_PC_DARTS, "('skip_connect', 0)", "('skip_connect', 2)"), "node 0"),
    (_replace(PUBLISHED_PC_DARTS, "('sep_conv_3x3', 3)", "('sep_conv_3x3', 4)"), "node 2"),
    (_replace(PUBLISHED_PC_DARTS, "sep_conv_5x5", "conv_9x9"), "conv_9x9"),
    (
      _replace(PUBLISHED_PC_DARTS, "normal_concat=range(2, 6)", "normal_concat=[2, 3, 6]"),
      "concat",
    ),
    (_replace(PUBLISHED_PC_DARTS, "normal_concat=range(2, 6)", "normal_concat=[]"), "concat"),
    (_replace(PUBLISHED_PC_DARTS, "normal_concat=range(2, 6)", "normal_concat=nodes"), "literal"),
    (PUBLISHED_PC_DARTS[:-1] + ", extra=1)", "extra"),
  ],
)
def test_malformed_darts_strings_are_rejected(bad, match):
  with pytest.raises(GenotypeError, match=match):
    DartsGenotype.from_string(bad)


def test_darts_json_form_is_checked():
  data = PC_DARTS.to_dict()
  data["normal"][0][0] = "skip_connect"
  with pytest.raises(GenotypeError, match="disagree"):
    DartsGenotype.from_dict(data)
  with pytest.raises(GenotypeError, match="space"):
    DartsGenotype.from_dict({"space": "nb201", "arch_str": PUBLISHED_PC_DARTS})
  with pytest.raises(GenotypeError, match="arch_str"):
    DartsGenotype.from_dict({"space": "darts"})


def test_load_genotype_reads_every_file_form(tmp_path):
  nb201_g = NB201Genotype.from_edges(["nor_conv_3x3"] * 6)
  files = {
    "search.json": (json.dumps({"genotype": DARTS_V2.to_dict(), "epoch": 49}), DARTS_V2),
    "bare.json": (PC_DARTS.to_json(), PC_DARTS),
    "nb201.json": (json.dumps({"genotype": nb201_g.to_dict()}), nb201_g),
    "nb201_fields.json": (json.dumps({"nodes": nb201_g.to_dict()["nodes"]}), nb201_g),
    "darts.txt": (PUBLISHED_DARTS_V2 + "\n", DARTS_V2),
    "nb201.txt": (nb201_g.to_string(), nb201_g),
  }
  for name, (text, expected) in files.items():
    (tmp_path / name).write_text(text)
    assert load_genotype(tmp_path / name) == expected, name
  with pytest.raises(DataNotFoundError, match="missing.json"):
    load_genotype(tmp_path / "missing.json")
  (tmp_path / "junk.txt").write_text("resnet50")
  with pytest.raises(GenotypeError, match="neither"):
    load_genotype(tmp_path / "junk.txt")
  (tmp_path / "nospace.json").write_text('{"ops": []}')
  with pytest.raises(GenotypeError, match="space"):
    load_genotype(tmp_path / "nospace.json")
