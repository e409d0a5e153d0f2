"""The README's NAS-Bench-201 commands, run verbatim as a new user runs them.

From the first search through selection, analysis, retraining, the
reproduction pipeline, seeds as a batch and the two Python blocks, in a
fresh checkout-like folder with no ``NASJAX_DATA_DIR`` set beyond what the
README writes (see ``tests/readme_commands.py``).
"""

import json

import numpy as np
import pytest
import yaml
from readme_commands import NB201_SECTIONS, fresh_checkout, run_items, section_items


@pytest.mark.slow
def test_readme_nb201_commands_run_as_written(tmp_path):
  checkout = fresh_checkout(tmp_path)
  items = [item for section in NB201_SECTIONS for item in section_items(section)]
  assert len(items) == 12, items
  times = run_items(items, checkout)
  runs = checkout / "runs"
  # the first search: its genotype, plain-YAML config, and alpha moved from uniform
  final = json.loads((runs / "darts" / "genotype.json").read_text())
  assert 0 < final["benchmark"]["cifar10_test"] < 100
  assert yaml.safe_load((runs / "darts" / "config.yaml").read_text())["epochs"] == 10
  probs = np.load(runs / "darts" / "alphas.npz")["cell"][-1]
  assert probs.max() > 0.2 * 1.2, probs.max()  # visibly above uniform (1/5)
  # what each later command writes
  for method in ("argmax", "pt", "single_stage"):
    assert (runs / "darts" / "select" / method / "selection.json").exists(), method
  assert (runs / "darts" / "analysis" / "hessian.jsonl").exists()
  plots = {p.name for p in (runs / "darts" / "plots").glob("*.png")}
  assert {"alphas.png", "eigenvalue.png"} <= plots, plots
  assert (runs / "retrain" / "final.json").exists()
  assert (runs / "nb201_runlocal" / "results.md").exists()
  assert (runs / "seeds" / "seeds_summary.json").exists()
  assert (runs / "notebook" / "genotype.json").exists()
  # the Python blocks print what they say they print
  reading = next(t for t in times if t["command"].startswith("import json, numpy"))
  assert reading["stdout"].split()[0] == final["genotype"]["arch_str"]
  notebook = json.loads((runs / "notebook" / "genotype.json").read_text())
  assert times[-1]["stdout"].strip().splitlines()[-1].startswith(notebook["genotype"]["arch_str"])
