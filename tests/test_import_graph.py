"""nasjax's modules import in any order: no cycles, no imports hidden in functions, no hazards.

The measures come from ``tools/import_graph.py`` (run it for the whole
report: modules per package, the longest import chain, the largest files).
"""

import importlib.util
import subprocess
import sys
import textwrap

from conftest import REPO

spec = importlib.util.spec_from_file_location("import_graph", REPO / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = import_graph  # dataclasses look their module up
spec.loader.exec_module(import_graph)


def test_nasjax_has_no_cycles_no_inner_imports_and_no_import_order_hazards():
  graph = import_graph.build(REPO / "nasjax")
  assert len(graph.files) > 100
  assert graph.cycles() == []
  assert graph.cycles(with_inner=True) == []
  assert graph.internal_inner_imports() == []
  assert graph.hazards() == []


def test_the_checks_find_a_cycle_an_inner_import_and_a_package_hazard(tmp_path):
  files = {
    "pkg/__init__.py": "",
    "pkg/a.py": "from pkg import b\nX = 1\n",
    "pkg/b.py": "from pkg.a import X\n",  # a -> b -> a
    "pkg/c.py": "def f():\n  from pkg import a\n  return a\n",  # hidden in a function
    # importing pkg.top first: it needs pkg.sub.low, whose package's __init__ needs pkg.top's Y
    "pkg/sub/__init__.py": "from pkg.top import Y\n",
    "pkg/sub/low.py": "Z = 1\n",
    "pkg/top.py": "from pkg.sub.low import Z\nY = Z\n",
    "pkg/user.py": "from pkg.sub.low import Z\n",
  }
  for name, text in files.items():
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(text)
  graph = import_graph.build(tmp_path / "pkg")
  assert graph.cycles() == [["pkg.a", "pkg.b"]]
  assert [i.target for i in graph.internal_inner_imports()] == ["pkg.a"]
  assert graph.cycles(with_inner=True) == [["pkg.a", "pkg.b"]]
  hazards = graph.hazards()  # no cycle among pkg.top, pkg.sub and pkg.sub.low, yet:
  assert any(h.startswith("pkg.sub:1 takes 'Y' from running pkg.top") for h in hazards), hazards
  assert any("takes 'X' from running pkg.a" in h for h in hazards), hazards


def test_every_module_imports_in_a_fresh_process_and_the_report_runs():
  code = textwrap.dedent(
    """
    import importlib, pkgutil, nasjax
    names = sorted(m.name for m in pkgutil.walk_packages(nasjax.__path__, "nasjax."))
    for name in names:
      importlib.import_module(name)
    print(len(names))
    """
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
  )
  assert int(out.stdout.split()[-1]) > 100
  report = subprocess.run(
    [sys.executable, str(REPO / "tools" / "import_graph.py")],
    capture_output=True,
    text=True,
    timeout=120,
    check=True,
  ).stdout
  assert "import cycles among module-level imports: 0" in report
  assert "import-order hazards: 0" in report
