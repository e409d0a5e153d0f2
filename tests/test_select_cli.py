"""``nasjax.select`` and ``nasjax.analyze`` on a runlocal search workdir, through the CLI."""

import json

import numpy as np
import pytest
from conftest import assert_ok, run_module
from PIL import Image

RUNLOCAL = "configs/nb201/darts_1st.py:runlocal"
SMALL = ("--config.epochs=2", "--config.data.train_limit=320", "--config.progress_bar=False")


def _one_line_error(out, program, *fragments):
  assert out.returncode != 0
  assert "Traceback" not in out.stderr, out.stderr[-3000:]
  lines = [ln for ln in out.stderr.splitlines() if ln.startswith(f"{program}: error:")]
  assert len(lines) == 1, out.stderr[-3000:]
  for fragment in fragments:
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory, nb201_table_path, cifar_subset):
  """A small runlocal search with the Hessian and the discretisation gap every epoch."""
  workdir = tmp_path_factory.mktemp("select") / "search"
  assert_ok(
    run_module(
      "nasjax.search",
      f"--config={RUNLOCAL}",
      f"--workdir={workdir}",
      *SMALL,
      "--config.analysis.hessian_every=1",
      "--config.analysis.discretization_every=1",
      "--config.analysis.recalibration_batches=2",
    )
  )
  return workdir


def test_search_records_the_eigenvalue_and_the_gap_every_epoch(search_dir):
  records = [json.loads(line) for line in (search_dir / "hessian.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in records] == [1, 2]
  for r in records:
    eigs = np.array(r["eigenvalues"])
    assert r["max_eig"] == pytest.approx(eigs.max())
    # softmax is shift-invariant per edge: 6 flat directions, curved only by the L2 term (1e-3)
    assert np.sum(np.isclose(eigs, 1e-3, rtol=0, atol=2e-5)) >= 6
  epochs = [
    json.loads(line)
    for line in (search_dir / "metrics.jsonl").read_text().splitlines()
    if '"kind": "epoch"' in line
  ]
  for e in epochs:
    assert 0 <= e["discretization/derived_acc"] <= 1
    gap = e["discretization/supernet_acc"] - e["discretization/derived_acc"]
    assert e["discretization/gap"] == pytest.approx(gap)
    assert e["hessian/max_eig"] > 0


def test_select_argmax_pt_and_single_stage(search_dir):
  genotype = json.loads((search_dir / "genotype.json").read_text())["genotype"]
  out = assert_ok(run_module("nasjax.select", f"--workdir={search_dir}", "--method=argmax"))
  argmax = json.loads((search_dir / "select" / "argmax" / "selection.json").read_text())
  assert argmax["genotype"] == genotype and "derived with BN recalibration" in out.stdout
  # Printed as percentages, like the benchmark's figures beside them (the record keeps fractions).
  supernet = 100 * argmax["discretization/supernet_acc"]
  assert f"validation accuracy (%): supernet {supernet:.2f}, " in out.stdout
  assert argmax["benchmark"]["cifar10_test"] > 0

  flags = ("--config.pt.proj_interval=1", "--config.progress_bar=False")
  assert_ok(run_module("nasjax.select", f"--workdir={search_dir}", "--method=pt", *flags))
  pt_dir = search_dir / "select" / "pt"
  pt = json.loads((pt_dir / "selection.json").read_text())
  decisions = [json.loads(line) for line in (pt_dir / "decisions.jsonl").read_text().splitlines()]
  assert len(decisions) == 6  # one per NAS-Bench-201 edge
  chosen = {d["decisions"][0]["edge"]: d["decisions"][0]["op"] for d in decisions}
  assert sorted(chosen) == list(range(6))
  edges = pt["genotype"]["arch_str"].strip("|").replace("|+|", "|").split("|")
  order = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
  for e, (i, j) in enumerate(order):
    assert f"{chosen[e]}~{j}" in edges[order.index((i, j))]
  assert pt["benchmark"]["cifar10_test"] > 0
  # Re-running a finished selection changes nothing.
  again = assert_ok(run_module("nasjax.select", f"--workdir={search_dir}", "--method=pt", *flags))
  assert json.loads((pt_dir / "selection.json").read_text())["genotype"] == pt["genotype"]
  assert "resuming" in again.stdout

  assert_ok(
    run_module(
      "nasjax.select",
      f"--workdir={search_dir}",
      "--method=single_stage",
      "--config.single_stage.epochs=1",
      "--config.progress_bar=False",
    )
  )
  ss_dir = search_dir / "select" / "single_stage"
  final = json.loads((ss_dir / "final.json").read_text())
  assert 0 < final["test_acc"] <= 1 and final["params"] > final["two_stage"]["params"]
  assert (ss_dir / "network" / "network.json").is_file()


def test_analyze_hessian_and_plots(search_dir):
  assert_ok(run_module("nasjax.analyze", "hessian", f"--workdir={search_dir}"))
  during = [json.loads(x) for x in (search_dir / "hessian.jsonl").read_text().splitlines()]
  after = [
    json.loads(x) for x in (search_dir / "analysis" / "hessian.jsonl").read_text().splitlines()
  ]
  # The checkpoint of the last epoch gives the eigenvalue the search measured then.
  assert after[-1]["step"] == during[-1]["step"]
  assert after[-1]["max_eig"] == pytest.approx(during[-1]["max_eig"], rel=1e-4)
  assert_ok(run_module("nasjax.analyze", "plots", f"--workdir={search_dir}"))
  for name in ("alphas", "eigenvalue", "discretization", "margin", "genotype"):
    with Image.open(search_dir / "plots" / f"{name}.png") as image:
      assert image.size[0] > 200 and image.size[1] > 100


def test_select_and_analyze_errors_are_one_line(tmp_path):
  _one_line_error(
    run_module("nasjax.select", f"--workdir={tmp_path}", "--method=argmax"),
    "nasjax.select",
    "holds no search",
  )
  _one_line_error(run_module("nasjax.select", f"--workdir={tmp_path}"), "nasjax.select", "--method")
  _one_line_error(
    run_module(
      "nasjax.select", f"--workdir={tmp_path}", "--method=pt", "--config.pt.proj_intervl=2"
    ),
    "nasjax.select",
    "proj_intervl",
  )
  _one_line_error(
    run_module("nasjax.analyze", f"--workdir={tmp_path}"), "nasjax.analyze", "hessian, plots"
  )
  _one_line_error(
    run_module("nasjax.analyze", "plots", f"--workdir={tmp_path}"),
    "nasjax.analyze",
    "no search outputs",
  )
