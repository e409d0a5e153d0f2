"""The README's super-resolution commands, run verbatim (see ``tests/readme_commands.py``)."""

import json

import pytest
from readme_commands import SR_SECTION, fresh_checkout, run_items, section_items


@pytest.mark.slow
def test_readme_sr_commands_run_as_written(tmp_path):
  checkout = fresh_checkout(tmp_path)
  items = section_items(SR_SECTION)
  assert len(items) == 4, items
  times = run_items(items, checkout)
  runs = checkout / "runs"
  selection = json.loads((runs / "sr_imdn" / "select" / "argmax" / "selection.json").read_text())
  assert selection["genotype"]["space"] == "imdn"
  table = json.loads((runs / "sr_imdn_retrain" / "evaluation" / "sr_table.json").read_text())
  assert table["sets"] == ["Set5", "Set14"]
  (row,) = table["rows"]
  assert row["genotype"] == selection["genotype"]
  assert all(20 < row["sets"][name]["psnr"] < 60 for name in table["sets"]), row["sets"]
  assert "tables:" in times[-1]["stdout"]
