"""benchmarks/gpu_check.sh --dry-run: every stage ran or recorded its error, and the tables.

Also benchmarks/runlocal_times.py's choice of configs and reading of a run,
and step_time.py's compile seconds of a PyTorch row.
"""

import importlib
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

STAGES = ("install", "env", "steps", "torch", "seeds", "compile", "search")


def _benchmark(name: str):
  """A module of benchmarks/ (a folder of scripts, not a package)."""
  if str(REPO / "benchmarks") not in sys.path:
    sys.path.insert(0, str(REPO / "benchmarks"))
  return importlib.import_module(name)


def _numbers(row: dict) -> bool:
  return any(isinstance(v, int | float) and not isinstance(v, bool) for v in row.values())


@pytest.mark.slow
def test_dry_run_writes_every_stage_and_the_tables(tmp_path):
  out = tmp_path / "out"
  torch_python = os.environ.get("NASJAX_BENCH_TORCH_PYTHON", "none")  # a CPU torch, if any
  env = {**os.environ, "PYTHON": sys.executable, "JAX_PLATFORMS": "cpu"}
  env.pop("OUT", None)
  cmd = ["bash", str(REPO / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(out)]
  cmd += ["--wheels", str(tmp_path / "no_wheels"), "--", "--spaces", "nb201"]
  cmd += ["--modes", "first_order", "--precisions", "float32", "--seeds", "2"]
  cmd += ["--torch-python", torch_python, "--search-set", "config.eval.limit=64"]
  proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

  result = json.loads((out / "gpu_check.json").read_text())
  assert result["dry_run"] and result["wall_s"] > 0
  assert tuple(result["stages"]) == STAGES
  for name, stage in result["stages"].items():
    if stage["status"] in ("ok", "partial"):
      assert stage["rows"], name
      assert all(set(r) - {"what"} for r in stage["rows"]), name  # a finding or an error each
    else:  # a stage that did not measure says why, in one line
      assert stage["error"] and "\n" not in stage["error"], name
  stages = result["stages"]
  # The measuring stages ran here: a broken stage fails the test, not only a missing one.
  for name in ("install", "env", "steps", "seeds", "compile", "search"):
    assert stages[name]["status"] == "ok", (name, stages[name]["error"])
  assert {"jax", "backend", "nasjax"} <= set(stages["env"]["rows"][0])
  assert all(_numbers(r) for name in ("steps", "seeds", "search") for r in stages[name]["rows"])
  (step,) = stages["steps"]["rows"]
  assert step["ms_per_step"] > 0 and step["compile_s"] > 0 and step["loss_finite"]
  one, many = stages["seeds"]["rows"]
  assert (one["seeds"], many["seeds"]) == (1, 2) and stages["seeds"]["vs_1_seed"] > 0
  compiled = {r["what"]: r for r in stages["compile"]["rows"] if r["impl"] == "nasjax"}
  assert set(compiled) == {step["what"], many["what"]}
  assert compiled[step["what"]]["cold_compile_s"] == step["compile_s"]
  assert compiled[step["what"]]["warm_compile_s"] > 0  # compiled again, the cache filled
  assert compiled[many["what"]]["warm_compile_s"] is None  # one warm compile per space
  (search,) = stages["search"]["rows"]
  assert search["steps_per_s"] > 0 and search["compile_s"] > 0 and search["extrapolated_h"] > 0
  protocol = stages["search"]["protocol"]
  assert (protocol["epochs"], protocol["steps_per_epoch"], protocol["batch"]) == (50, 390, 64)
  if torch_python == "none":
    assert stages["torch"]["status"] == "not run" and "no torch" in stages["torch"]["error"]
  else:
    assert stages["torch"]["status"] == "ok", stages["torch"]["error"]

  md = (out / "gpu_check.md").read_text()
  assert md.startswith("# nasjax GPU check (dry run") and md in proc.stdout
  for name in STAGES:
    assert f"| {name} | {stages[name]['status']} |" in md
  (table_row,) = [ln for ln in md.splitlines() if ln.startswith("| nb201 | float32 | first_order")]
  assert f"| {step['ms_per_step']} | {step['compile_s']} |" in table_row
  if torch_python == "none":
    assert "not run: no torch" in table_row
  assert "## 2 seeds as one program" in md and "## Compile seconds" in md
  assert f"| {search['steps_per_s']} |" in md and "extrapolated" in md
  assert (out / "gpu_check.log").stat().st_size > 0


def test_runlocal_times_runs_each_search_config_with_a_runlocal_variant():
  runlocal_times = _benchmark("runlocal_times")
  configs, skipped = runlocal_times.search_configs(["configs/*/*.py"])
  names = {p.relative_to(REPO).as_posix() for p in configs}
  assert {
    "configs/nb201/darts_1st.py",
    "configs/darts/pc_darts.py",
    "configs/robust/s1.py",
  } <= names
  assert {"configs/seg/search_darts.py", "configs/sr/imdn_sa.py"} <= names
  assert not any("retrain" in n or "single_stage" in n for n in names)
  assert skipped["configs/retrain/cifar10.py"] == skipped["configs/seg/single_stage.py"]
  assert "takes a method first" in skipped["configs/nb201/cpu_scale.py"]  # needs a method
  run = runlocal_times.SearchRun("configs/nb201/darts_1st.py:runlocal", REPO / "w", REPO / "c")
  config, workdir, cache = run.command()[3:6]
  assert config == "--config=configs/nb201/darts_1st.py:runlocal"
  assert (workdir, cache) == (f"--workdir={REPO / 'w'}", f"--config.compilation_cache={REPO / 'c'}")


def test_runlocal_times_reads_the_finish_line_and_the_step_times(tmp_path):
  runlocal_times = _benchmark("runlocal_times")
  records = [
    {"step": 5, "kind": "train", "step_time_s": 0.01},  # the first line times dispatch only
    {"step": 10, "kind": "train", "step_time_s": 0.5},
    {"step": 10, "kind": "epoch"},
    {"step": 15, "kind": "train", "step_time_s": 3.0},  # spans an evaluation
    {"step": 20, "kind": "train", "step_time_s": 0.4},
  ]
  (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
  out = "...\nsearch finished: 20 steps, 2 epochs, 124.6 s (step compile 55.4 s)\ngenotype: x\n"
  row = runlocal_times.read_search_run(out, tmp_path)
  assert row == {
    "steps": 20,
    "epochs": 2,
    "run_s": 124.6,
    "compile_s": 55.4,
    "steps_per_s": 2.0,  # 1 / median(0.5, 3.0, 0.4)
  }
  assert runlocal_times.read_search_run("Traceback", tmp_path / "none")["compile_s"] is None


def test_torch_rows_get_compile_seconds_and_failures_one_line():
  step_time = _benchmark("step_time")
  assert step_time.torch_compile_s({"first_step_s": 2.5, "ms_per_step": 500.0}) == 2.0
  assert step_time.torch_compile_s({"first_step_s": 0.1, "ms_per_step": 300.0}) == 0.0
  with pytest.raises(step_time.BenchmarkError, match=r"^x: exit 3: boom$"):
    code = "import sys; print('oops', file=sys.stderr); print('boom', file=sys.stderr); sys.exit(3)"
    step_time.run_child([sys.executable, "-c", code], "x")
  with pytest.raises(step_time.BenchmarkError, match="timed out after 1 s"):
    step_time.run_child([sys.executable, "-c", "import time; time.sleep(30)"], "x", timeout=1)


def test_markdown_shows_failed_rows_and_the_missing_torch():
  gpu_check = _benchmark("gpu_check")
  plan = gpu_check.make_plan(
    gpu_check.build_parser().parse_args(["--dry-run", "--torch-python", "none"])
  )
  step = {
    "what": "nasjax nb201 first_order batch=4 float32",
    "space": "nb201",
    "mode": "first_order",
    "precision": "float32",
    "seeds": 1,
    "error": "nasjax nb201 ...: timed out after 9 s",
  }

  def stage(name, status, rows, error=None):
    return {
      "stage": name,
      "status": status,
      "error": error,
      "wall_s": 1.0,
      "budget_s": 9,
      "rows": rows,
    }

  result = {
    "dry_run": True,
    "started": "now",
    "wall_s": 3.0,
    "plan": gpu_check.dataclasses.asdict(plan),
    "stages": {
      "install": stage("install", "ok", [{"what": "pip install", "install_s": 1.0}]),
      "env": stage("env", "ok", [{"what": "jax", "jax": "0.x", "backend": "cpu", "device": "cpu"}]),
      "steps": stage("steps", "error", [step], "1 of 1 rows failed; first: timed out"),
      "torch": stage("torch", "not run", [], "not run: no torch (pass --torch-python PY)"),
    },
  }
  md = gpu_check.markdown(result)
  assert "| steps | error | 1.0 | 9 | 1 of 1 rows failed; first: timed out |" in md
  assert "| seeds | pending |" in md
  (row,) = [ln for ln in md.splitlines() if ln.startswith("| nb201 | float32 | first_order |")]
  assert row.startswith("| nb201 | float32 | first_order | error | error |")
  assert row.count("not run: no torch") == 5
  assert "- steps: nasjax nb201 first_order batch=4 float32: nasjax nb201 ...: timed out" in md
