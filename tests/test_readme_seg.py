"""The README's segmentation commands, run verbatim (see ``tests/readme_commands.py``)."""

import json

import pytest
from readme_commands import SEG_SECTION, fresh_checkout, run_items, section_items


@pytest.mark.slow
def test_readme_seg_commands_run_as_written(tmp_path):
  checkout = fresh_checkout(tmp_path)
  items = section_items(SEG_SECTION)
  assert len(items) == 5, items
  times = run_items(items, checkout)
  runs = checkout / "runs"
  assert (runs / "seg" / "select" / "single_stage" / "final.json").exists()
  selection = json.loads((runs / "seg" / "select" / "argmax" / "selection.json").read_text())
  assert selection["genotype"]["space"] == "trellis"
  assert (runs / "seg_two_stage" / "final.json").exists()
  assert "tables:" in times[-1]["stdout"]
