"""The example notebook ``examples/nb201_search.ipynb`` runs and shows what it promises.

The notebook is stored executed, so that readers see its plots without
running it; the slow test executes a copy in a fresh kernel of this
interpreter and checks its outputs. After editing the notebook, store it
executed again with ``python tests/test_notebook.py`` (from the repository
root, with the test extras installed).
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, data_dir

NOTEBOOK = REPO / "examples" / "nb201_search.ipynb"
#: Seconds any one cell may run (the search cell takes minutes on a loaded 2-core CPU).
CELL_TIMEOUT_S = 900


def execute(nb: Any, cwd: Path, tmp: Path) -> None:
  """Executes ``nb`` in place, in a kernel of this interpreter working in ``cwd``.

  The kernel is ipykernel's own spec for ``sys.executable`` (no kernelspec
  the user installed elsewhere is looked up), with ``TMPDIR=tmp`` so that
  the notebook's temporary workdir lands there.

  Raises:
    nbclient.exceptions.CellExecutionError: at the first cell that raised.
  """
  from jupyter_client.kernelspec import KernelSpecManager
  from jupyter_client.manager import AsyncKernelManager
  from nbclient import NotebookClient

  specs = KernelSpecManager(kernel_dirs=[])  # only the native python3: this interpreter
  kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
  client = NotebookClient(
    nb,
    km=kernel,
    kernel_name="python3",
    timeout=CELL_TIMEOUT_S,
    startup_timeout=120,
    record_timing=False,
    resources={"metadata": {"path": str(cwd)}},
  )
  client.execute(cleanup_kc=True, env={**os.environ, "TMPDIR": str(tmp)})  # and shut it down


def code_cells(nb: Any) -> list[Any]:
  """The notebook's code cells, in order."""
  return [cell for cell in nb.cells if cell.cell_type == "code"]


def cell_with(nb: Any, snippet: str) -> Any:
  """The one code cell whose source contains ``snippet``."""
  cells = [cell for cell in code_cells(nb) if snippet in cell.source]
  assert len(cells) == 1, f"expected one code cell with {snippet!r}, found {len(cells)}"
  return cells[0]


def text_of(cell: Any) -> str:
  """Everything a cell printed (streams and plain-text results)."""
  parts = []
  for out in cell.outputs:
    if out.output_type == "stream":
      parts.append(out.text)
    elif out.output_type in ("execute_result", "display_data"):
      parts.append(out.data.get("text/plain", ""))
  return "".join(parts)


def has_image(cell: Any) -> bool:
  """Whether the cell displayed a PNG image."""
  return any("image/png" in out.get("data", {}) for out in cell.outputs)


def errors(nb: Any) -> list[str]:
  """``ename: evalue`` of every error output of the notebook."""
  return [
    f"{out.ename}: {out.evalue}"
    for cell in code_cells(nb)
    for out in cell.outputs
    if out.output_type == "error"
  ]


def test_stored_notebook_is_executed() -> None:
  """The stored notebook holds the outputs of one run, top to bottom, without errors."""
  nbformat = pytest.importorskip("nbformat")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  cells = code_cells(nb)
  assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1)), (
    "store the notebook executed top to bottom: python tests/test_notebook.py"
  )
  assert all(cell.outputs for cell in cells), "a code cell of the stored notebook has no output"
  assert not errors(nb)
  assert has_image(cell_with(nb, "alphas.npz")) and has_image(cell_with(nb, "plot_genotype("))


@pytest.mark.slow
def test_notebook_executes(tmp_path: Path) -> None:
  """Run anew, every cell succeeds and prints or draws what its markdown promises."""
  nbformat = pytest.importorskip("nbformat")
  pytest.importorskip("nbclient")
  pytest.importorskip("ipykernel")
  data_dir()  # skips without the shared data
  nb = nbformat.read(NOTEBOOK, as_version=4)
  for cell in code_cells(nb):
    cell.outputs, cell.execution_count = [], None
  execute(nb, cwd=tmp_path, tmp=tmp_path)

  assert not errors(nb)
  assert all(cell.execution_count for cell in code_cells(nb))
  eigenvalues = re.findall(
    r"dominant eigenvalue (\S+)", text_of(cell_with(nb, "checkpoint_hessians("))
  )
  assert eigenvalues, "the Hessian cell printed no eigenvalue"
  assert math.isfinite(float(eigenvalues[-1])) and float(eigenvalues[-1]) > 0, eigenvalues
  found = re.search(r"^found\s+(\S+)\s+(\S+)\s+(\S+)$", text_of(cell_with(nb, "NB201Table")), re.M)
  assert found, "the benchmark cell printed no row for the genotype found"
  assert all(0 < float(acc) < 100 for acc in found.groups()), found.group(0)
  assert has_image(cell_with(nb, "alphas.npz")), "the alpha plot produced no image"
  assert has_image(cell_with(nb, "plot_genotype(")), "the genotype drawing produced no image"


if __name__ == "__main__":  # store the notebook executed, as a reader runs it (from examples/)
  import nbformat

  notebook = nbformat.read(NOTEBOOK, as_version=4)
  with tempfile.TemporaryDirectory() as tmp:
    execute(notebook, cwd=NOTEBOOK.parent, tmp=Path(tmp))
  nbformat.write(notebook, NOTEBOOK)
  print(f"wrote {NOTEBOOK}", file=sys.stderr)
