"""The documentation site: every page in the navigation, an API page per package, a strict build.

``mkdocs.yml`` builds ``docs/`` into a site whose API reference mkdocstrings
renders from the docstrings (read statically by griffe, through
``tools/docs_griffe.py``). The checks on the files run everywhere; the build
and what it rendered need the ``docs`` extra (``pip install -e ".[docs]"``)
and are skipped without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from conftest import REPO
from readme_commands import section_items

DOCS = REPO / "docs"
#: The packages with a page of their own in the API reference (``docs/api/<name>.md``).
PACKAGES = ("config", "core", "spaces", "tasks", "data", "analysis", "infra", "run")
#: What the build needs: mkdocs, the Material theme, mkdocstrings' Python handler.
DOCS_TOOLS = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
#: A fenced code block of a page: its language and its text.
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def nav_pages(entry: Any) -> list[str]:
  """The page paths (relative to ``docs/``) of a ``nav`` entry of ``mkdocs.yml``, in order."""
  if isinstance(entry, str):
    return [] if "://" in entry else [entry]
  if isinstance(entry, list):
    return [page for item in entry for page in nav_pages(item)]
  if isinstance(entry, dict):
    return [page for value in entry.values() for page in nav_pages(value)]
  return []


def config() -> dict[str, Any]:
  """``mkdocs.yml``, parsed."""
  return yaml.safe_load((REPO / "mkdocs.yml").read_text())


def public_modules(package: ModuleType) -> list[str]:
  """The names of a package's modules and sub-packages that do not start with ``_``."""
  folder = Path(package.__file__).parent
  names = [p.stem for p in folder.glob("*.py")] + [
    p.parent.name for p in folder.glob("*/__init__.py")
  ]
  return sorted(name for name in names if not name.startswith("_"))


def installed(name: str) -> bool:
  """Whether the module ``name`` can be imported (without importing it, but its parents)."""
  try:
    return importlib.util.find_spec(name) is not None
  except ModuleNotFoundError:  # a parent package is missing
    return False


def missing_docs_tools() -> list[str]:
  """The packages of the ``docs`` extra that are not installed."""
  return [name for name in DOCS_TOOLS if not installed(name)]


def test_every_page_is_in_the_nav():
  pages = nav_pages(config()["nav"])
  on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
  assert len(pages) == len(set(pages)), f"pages listed twice in mkdocs.yml's nav: {pages}"
  assert sorted(pages) == on_disk, (
    f"not in mkdocs.yml's nav: {sorted(set(on_disk) - set(pages))}; "
    f"in the nav but missing from docs/: {sorted(set(pages) - set(on_disk))}"
  )


def test_every_package_has_an_api_page():
  pages = nav_pages(config()["nav"])
  for name in ("nasjax", *PACKAGES):
    page = f"api/{name}.md"
    identifier = name if name == "nasjax" else f"nasjax.{name}"
    assert page in pages, f"{page} is not in mkdocs.yml's nav"
    text = (DOCS / page).read_text()
    assert re.search(rf"^::: {re.escape(identifier)}$", text, re.M), (
      f"{page} lacks ::: {identifier}"
    )


def test_api_reference_reads_google_docstrings():
  plugins = [p for p in config()["plugins"] if isinstance(p, dict) and "mkdocstrings" in p]
  options = plugins[0]["mkdocstrings"]["handlers"]["python"]["options"]
  assert options["docstring_style"] == "google"
  assert options["allow_inspection"] is False  # static analysis: the build imports nothing
  assert all((REPO / ext).is_file() for ext in options["extensions"])


def test_code_examples_are_valid():
  """Every Python block of the pages compiles, and every config file a page names exists."""
  for page in sorted(DOCS.rglob("*.md")):
    text = page.read_text()
    for language, code in CODE_BLOCK.findall(text):
      if language == "python":
        compile(code, str(page), "exec")
    for path in re.findall(r"\bconfigs/[\w/]+\.py\b", text):
      assert (REPO / path).is_file(), f"{page.relative_to(REPO)} names {path}, which is missing"


def test_getting_started_runs_the_first_search():
  text = (DOCS / "getting_started.md").read_text()
  # the README's first command (run verbatim by tests/test_readme_nb201.py)
  (first,) = section_items("Install and run")
  assert first[1] in text
  assert "examples/nb201_search.ipynb" in text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
  """The site ``mkdocs build --strict`` builds (the test fails on any warning)."""
  missing = missing_docs_tools()
  if missing:
    pytest.skip(f"the docs extra is not installed (missing {missing}): pip install -e '.[docs]'")
  out = tmp_path_factory.mktemp("site")
  env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
  result = subprocess.run(
    [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
  return out


def anchors(site: Path, page: str) -> set[str]:
  """The ``id`` attributes of a built API page (``docs/api/<page>.md``)."""
  return set(re.findall(r'id="([^"]+)"', (site / "api" / page / "index.html").read_text()))


def test_strict_build(site: Path):
  assert (site / "index.html").is_file()
  assert (site / "getting_started" / "index.html").is_file()
  assert (site / "results" / "nb201_cpu" / "curves.png").is_file()


def test_api_reference_renders_the_top_level_names(site: Path):
  import nasjax

  top = anchors(site, "nasjax")
  for name in nasjax.__all__:
    if isinstance(getattr(nasjax, name), ModuleType):
      assert f"nasjax.{name}" in anchors(site, name), f"nasjax.{name} has no page"
    else:
      assert f"nasjax.{name}" in top, f"nasjax.{name} is not rendered in api/nasjax.md"


@pytest.mark.parametrize("name", PACKAGES)
def test_api_reference_renders_each_package(site: Path, name: str):
  """A package's page renders its ``__all__`` and every one of its public modules."""
  package = importlib.import_module(f"nasjax.{name}")
  rendered = anchors(site, name)
  expected = [f"nasjax.{name}.{member}" for member in getattr(package, "__all__", ())]
  expected += [f"nasjax.{name}.{module}" for module in public_modules(package)]
  missing = [identifier for identifier in expected if identifier not in rendered]
  assert not missing, f"api/{name}.md does not render {missing}"
