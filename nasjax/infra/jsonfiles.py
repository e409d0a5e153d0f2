"""JSON and JSON-lines files, written so that a kill never leaves half a file.

:func:`write_json` and :func:`atomic_write_text` replace a file in one
rename; :func:`truncate_jsonl` drops the records of a JSON-lines file that
a resumed run is about to write again (and any line a kill cut short).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
  """Writes ``data`` to ``path`` through a temporary file and one rename."""
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_bytes(data)
  os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
  """Writes ``text`` to ``path`` through a temporary file and one rename."""
  atomic_write_bytes(Path(path), text.encode())


def truncate_jsonl(path: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
  """Keeps the records of the JSON-lines file ``path`` for which ``keep`` holds (if it exists)."""
  if not path.exists():
    return
  lines = [line for line in path.read_text().splitlines() if line.strip()]
  kept = []
  for line in lines:
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue  # a line cut short by a kill
    if keep(record):
      kept.append(line)
  atomic_write_bytes(path, ("\n".join(kept) + ("\n" if kept else "")).encode())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
  """The records of a JSON-lines file: none if it is missing, lines a kill cut short skipped."""
  path = Path(path)
  if not path.exists():
    return []
  records = []
  for line in path.read_text().splitlines():
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      continue
  return records


def write_json(path: str | Path, data: Any) -> None:
  """Writes ``data`` as indented JSON, atomically."""
  atomic_write_bytes(Path(path), (json.dumps(data, indent=2) + "\n").encode())
