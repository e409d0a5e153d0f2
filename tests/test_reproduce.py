"""``python -m nasjax.reproduce``: configs per scale, the report, resume, and bad arguments."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, assert_ok, cli_env, run_module

from nasjax.config.retrain import retrain_config
from nasjax.errors import ConfigError
from nasjax.run import report as reports
from nasjax.run import reproduce
from nasjax.spaces.darts.genotype import DARTS_V2
from nasjax.spaces.nb201.benchmark import NB201Table
from nasjax.spaces.registry import genotype_from_dict

CONFIGS = REPO / "configs"
#: A small runlocal study: 2 epochs on 640 images; DARTS (argmax) and DARTS+PT share one search.
ARGS = (
  "nb201",
  "--methods=darts_1st,darts_pt",
  "--seeds=2",
  "--scale=runlocal",
  "--set=epochs=2",
  "--set=data.train_limit=640",
  "--no_progress_bar",
)


def _run(*args, timeout=1200):
  return run_module("nasjax.reproduce", *args, timeout=timeout)


# -- configs ------------------------------------------------------------------------------------


def test_methods_in_table_order_and_unknown_names():
  names = [m.name for m in reproduce.methods_of("nb201", "sa_darts,darts_1st")]
  assert names == ["darts_1st", "sa_darts"]
  assert len(reproduce.methods_of("nb201", "all")) == len(reproduce.BENCHMARKS["nb201"])
  with pytest.raises(ConfigError, match="unknown nb201 method"):
    reproduce.methods_of("nb201", "darts_1st,dartz")
  with pytest.raises(ConfigError, match="unknown benchmark"):
    reproduce.methods_of("nb301", "all")


def test_every_method_config_loads_at_every_scale():
  for benchmark, methods in reproduce.BENCHMARKS.items():
    for method in methods:
      for scale in reproduce.SCALES:
        if scale == "cpu" and benchmark not in reproduce.CPU_SCALE_CONFIGS:
          with pytest.raises(ConfigError, match="no CPU-scale protocol"):
            reproduce.search_config_of(method, scale, benchmark, CONFIGS, 3)
          continue
        config = reproduce.search_config_of(method, scale, benchmark, CONFIGS, 3, 5)
        assert (config.seed, config.num_seeds) == (5, 3)
        assert config.space.name == benchmark


def test_cpu_scale_shrinks_the_paper_protocol():
  """The CPU protocol keeps N=5 and 50 epochs, shrinks C and the images, scales alpha's lr by 5."""
  for method in reproduce.BENCHMARKS["nb201"]:
    paper = reproduce.search_config_of(method, "paper", "nb201", CONFIGS, 1)
    cpu = reproduce.search_config_of(method, "cpu", "nb201", CONFIGS, 3)
    assert (cpu.space.channels, cpu.space.cells_per_stage, cpu.epochs) == (4, 5, 50)
    assert (cpu.batch_size, cpu.data.downsample, cpu.data.source) == (32, 2, "npz")
    assert math.isclose(cpu.optimizer.alpha.lr, 5 * paper.optimizer.alpha.lr)
    assert cpu.hypergradient == paper.hypergradient
    assert cpu.optimizer.weights.to_dict() == paper.optimizer.weights.to_dict()
    assert cpu.regularizers.to_dict() == paper.regularizers.to_dict()
    assert cpu.relaxation.to_dict() == paper.relaxation.to_dict()
    assert cpu.optimizer.alpha.frozen == paper.optimizer.alpha.frozen


def test_overrides_are_checked():
  method = reproduce.methods_of("nb201", "darts_1st")[0]
  config = reproduce.search_config_of(
    method, "runlocal", "nb201", CONFIGS, 1, overrides=["optimizer.alpha.init_bias=0.1", "epochs=4"]
  )
  assert (config.optimizer.alpha.init_bias, config.epochs) == (0.1, 4)
  assert isinstance(config.optimizer.alpha.init_bias, float)
  for bad, message in (
    ("epochs", "must be field=value"),
    ("optimizer.alpha.lrr=1", "no field 'optimizer.alpha.lrr'"),
    ("optimiser.alpha.lr=1", "no field 'optimiser.alpha.lr'"),
  ):
    with pytest.raises(ConfigError, match=message):
      reproduce.search_config_of(method, "runlocal", "nb201", CONFIGS, 1, overrides=[bad])


def test_bad_arguments_give_one_line(tmp_path):
  for args, fragment in (
    (("nb201", "--methods=darts_3rd"), "unknown nb201 method"),
    (("darts", "--methods=darts_1st", "--scale=cpu"), "no CPU-scale protocol"),
    (("nb201", "--methods=darts_1st", "--set=epochs"), "must be field=value"),
    (("nb201", "--methods=darts_1st", "--seeds=0"), "--seeds must be an integer >= 1"),
  ):
    out = _run(*args, f"--workdir={tmp_path / 'w'}")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("nasjax.reproduce: error:")]
    assert len(lines) == 1 and fragment in lines[0], out.stderr[-2000:]
    assert not (tmp_path / "w" / "darts_1st").exists()


# -- end to end -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory, nb201_table_path, cifar_subset):
  """The small study, interrupted once after the search and resumed to the end."""
  workdir = tmp_path_factory.mktemp("reproduce") / "study"
  process = subprocess.Popen(
    [sys.executable, "-m", "nasjax.reproduce", *ARGS, f"--workdir={workdir}"],
    cwd=REPO,
    env=cli_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
    start_new_session=True,
  )
  summary = workdir / "darts_1st" / "seeds_summary.json"
  deadline = time.monotonic() + 900
  while not summary.exists() and process.poll() is None and time.monotonic() < deadline:
    time.sleep(0.5)
  assert summary.exists(), process.communicate()[0][-3000:]
  time.sleep(3)  # into the first seed's perturbation selection
  os.killpg(process.pid, signal.SIGINT)
  out = process.communicate(timeout=300)[0]
  interrupted = process.returncode != 0
  search_record = (workdir / "darts_1st" / "seed_0" / "metrics.jsonl").read_text()
  resumed = assert_ok(_run(*ARGS, f"--workdir={workdir}"))
  return workdir, interrupted, out, search_record, resumed.stdout


def test_report_matches_the_runs(study, nb201_table_path):
  workdir, _, _, _, stdout = study
  report = json.loads((workdir / "results.json").read_text())
  table = NB201Table.load(nb201_table_path)
  methods = {m["name"]: m for m in report["methods"]}
  assert list(methods) == ["darts_1st", "darts_pt"] and report["seeds"] == 2
  for name, source in (("darts_1st", "genotype.json"), ("darts_pt", "select/pt/selection.json")):
    entry = methods[name]
    assert entry["finished"]
    assert [r["seed"] for r in entry["seeds"]] == [0, 1]
    for record in entry["seeds"]:
      saved = json.loads((workdir / "darts_1st" / f"seed_{record['seed']}" / source).read_text())
      genotype = genotype_from_dict(saved["genotype"])
      assert record["genotype_str"] == str(genotype)
      benchmark = table.lookup(genotype)
      assert record["cifar10_test"] == pytest.approx(benchmark.cifar10_test)
      assert record["cifar100_test"] == pytest.approx(benchmark.cifar100_test)
      assert record["imagenet16_valid_12ep"] == pytest.approx(
        benchmark.columns["imagenet16_valid_acc_12ep"]
      )
      assert record["skip_edges"] == sum(op == "skip_connect" for op in genotype.edges)
      epochs, accs = record["curves"]["nb201/cifar10_test"]
      assert epochs == [1, 2] and accs[-1] == pytest.approx(
        json.loads(
          (workdir / "darts_1st" / f"seed_{record['seed']}" / "genotype.json").read_text()
        )["benchmark"]["cifar10_test"]
      )
    values = [r["cifar10_test"] for r in entry["seeds"]]
    assert entry["summary"]["cifar10_test"]["mean"] == pytest.approx(np.mean(values))
    assert entry["summary"]["cifar10_test"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert entry["wall_time_s"]["search_s"] > 0
  assert methods["darts_pt"]["wall_time_s"]["pt_s"] > 0
  markdown = (workdir / "results.md").read_text()
  for entry in methods.values():
    mean, std = (entry["summary"]["cifar10_test"][k] for k in ("mean", "std"))
    assert f"| {entry['label']} |" in markdown and f"{mean:.2f} ± {std:.2f}" in markdown
  assert "no 200-epoch valid accuracy for CIFAR-100 and ImageNet16-120" in markdown
  best = report["optimal"]
  assert best["cifar10_test"] == pytest.approx(94.3733) and best["cifar100_test"] > 73
  for png in ("curves.png", "alphas/darts_1st.png", "alphas/darts_pt.png"):
    assert (workdir / png).stat().st_size > 10_000
  assert f"results: {workdir / 'results.md'}" in stdout


def test_interrupted_study_resumes_without_rerunning_the_search(study):
  workdir, interrupted, out, search_record, stdout = study
  assert interrupted, out[-2000:]
  # The finished search was not run again: its records are as the first process left them.
  assert (workdir / "darts_1st" / "seed_0" / "metrics.jsonl").read_text() == search_record
  assert "search finished" not in stdout.split("== darts_pt")[0]
  assert "pt selection finished" in stdout


def test_report_only_rewrites_the_same_report(study):
  workdir, *_ = study
  before = json.loads((workdir / "results.json").read_text())
  assert_ok(_run(*ARGS, f"--workdir={workdir}", "--report_only"))
  assert json.loads((workdir / "results.json").read_text()) == before


# -- the DARTS-space report ---------------------------------------------------------------------


def test_darts_report_counts_parameters_at_the_retraining_size():
  """DARTS V2 at C=36, 20 cells is the paper's 3.3M network (auxiliary head excluded)."""
  record = reports._darts_record(DARTS_V2, retrain_config())
  assert record["params_M"] == pytest.approx(3.349342, abs=1e-6)
  study = {
    "methods": [
      {
        "label": "DARTS (1st)",
        "selection": "argmax",
        "wall_time_s": {"search_s": 3600.0},
        "seeds": [
          {"seed": 0, **record, "retrain_command": "retrain X", "genotype_str": "G"},
          {"seed": 1},
        ],
      }
    ],
    "seeds": 2,
    "scale": "paper",
  }
  lines = reports.darts_markdown(study).splitlines()
  assert lines[6] == "| DARTS (1st) | 0 | 3.35 | 60.0 min | `retrain X` |"
  assert lines[7].startswith("| DARTS (1st) | 1 | — |") and "`unfinished`" in lines[7]
  assert "- DARTS (1st), seed 1: `unfinished`" in lines
