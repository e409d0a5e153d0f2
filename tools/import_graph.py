"""The import graph of a Python package: its modules, cycles, longest chain and inner imports.

Reads the source with :mod:`ast` (nothing is imported or run) and prints:

* the modules of every package (a folder with an ``__init__.py``);
* the import cycles among module-level imports (strongly connected groups
  of modules, each with one cycle spelled out);
* the longest chain of module-level imports (``a -> b -> c``: ``a`` imports
  ``b``, which imports ``c``);
* the imports inside functions: those of the package's own modules (which
  exist only to dodge a cycle) and those of other libraries (heavy or
  optional dependencies loaded on use);
* the largest files, in lines.

``tests/test_import_graph.py`` uses it to fail on a cycle or on an import
of the package's own modules inside a function.

Usage::

  python tools/import_graph.py             # the nasjax package beside this folder
  python tools/import_graph.py --root DIR  # the package folder DIR
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclasses.dataclass(frozen=True)
class InnerImport:
  """An import statement inside a function.

  Attributes:
    module: the module that holds it.
    line: its line number.
    target: the module it imports (dotted).
    internal: whether ``target`` belongs to the package.
  """

  module: str
  line: int
  target: str
  internal: bool


@dataclasses.dataclass
class ImportGraph:
  """The module-level imports among a package's modules.

  Attributes:
    package: the package's name, e.g. ``nasjax``.
    files: module name -> its file.
    edges: module name -> the package's modules it imports at module level
      (outside functions and ``if TYPE_CHECKING:`` blocks).
    inner: the imports inside functions (one per statement and module imported).
  """

  package: str
  files: dict[str, Path]
  edges: dict[str, set[str]]
  inner: list[InnerImport]

  @property
  def packages(self) -> dict[str, list[str]]:
    """Package name -> the modules directly in it (sub-packages count as modules of theirs)."""
    out: dict[str, list[str]] = {}
    for name, path in sorted(self.files.items()):
      parent = name if path.name == "__init__.py" else name.rpartition(".")[0]
      if path.name != "__init__.py":
        out.setdefault(parent, []).append(name.rpartition(".")[2])
      else:
        out.setdefault(parent, [])
    return out

  def cycles(self, with_inner: bool = False) -> list[list[str]]:
    """The strongly connected groups of two or more modules (and modules importing themselves).

    Args:
      with_inner: count the imports inside functions as edges too (the
        cycles they hide).
    """
    edges = self.all_edges() if with_inner else self.edges
    return [sorted(c) for c in _strongly_connected(edges) if _is_cycle(c, edges)]

  def all_edges(self) -> dict[str, set[str]]:
    """:attr:`edges` plus the package's modules imported inside functions."""
    out = {name: set(deps) for name, deps in self.edges.items()}
    for item in self.internal_inner_imports():
      if item.target in out and item.target != item.module:
        out[item.module].add(item.target)
    return out

  def cycle_path(self, group: list[str], with_inner: bool = False) -> list[str]:
    """One cycle through the modules of ``group``, as ``[a, b, ..., a]``."""
    edges = self.all_edges() if with_inner else self.edges
    members = set(group)
    start = group[0]
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
      nxt = []
      for node in frontier:
        for dep in sorted(edges[node] & members):
          if dep == start:
            path = [node]
            while path[-1] != start:
              path.append(parents[path[-1]])
            return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, start]
          if dep not in parents:
            parents[dep] = node
            nxt.append(dep)
      frontier = nxt
    return [start]

  def longest_chain(self) -> list[str]:
    """The longest path of module-level imports (over the acyclic graph of cycle groups)."""
    group_of = {}
    for i, group in enumerate(_strongly_connected(self.edges)):
      for node in group:
        group_of[node] = i
    memo: dict[str, list[str]] = {}

    def longest(node: str, seen: frozenset) -> list[str]:
      if node in memo:
        return memo[node]
      best: list[str] = []
      for dep in sorted(self.edges[node]):
        if group_of[dep] == group_of[node] or dep in seen:
          continue
        chain = longest(dep, seen | {dep})
        if len(chain) > len(best):
          best = chain
      memo[node] = [node, *best]
      return memo[node]

    chains = [longest(node, frozenset({node})) for node in sorted(self.edges)]
    return max(chains, key=len) if chains else []

  def largest_files(self, count: int = 5) -> list[tuple[str, int]]:
    """The ``count`` longest files: ``(path relative to the package's parent, lines)``."""
    root = self.files[self.package].parent.parent
    sizes = [
      (str(path.relative_to(root)), len(path.read_text().splitlines()))
      for path in self.files.values()
    ]
    return sorted(sizes, key=lambda s: (-s[1], s[0]))[:count]

  def internal_inner_imports(self) -> list[InnerImport]:
    """Imports of the package's own modules inside functions."""
    return [i for i in self.inner if i.internal]


def _strongly_connected(edges: dict[str, set[str]]) -> Iterator[list[str]]:
  """Tarjan's strongly connected components (iterative)."""
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  on_stack: set[str] = set()
  stack: list[str] = []
  counter = 0
  for root in sorted(edges):
    if root in index:
      continue
    work = [(root, iter(sorted(edges[root])))]
    index[root] = low[root] = counter
    counter += 1
    stack.append(root)
    on_stack.add(root)
    while work:
      node, deps = work[-1]
      for dep in deps:
        if dep not in index:
          index[dep] = low[dep] = counter
          counter += 1
          stack.append(dep)
          on_stack.add(dep)
          work.append((dep, iter(sorted(edges[dep]))))
          break
        if dep in on_stack:
          low[node] = min(low[node], index[dep])
      else:
        work.pop()
        if work:
          low[work[-1][0]] = min(low[work[-1][0]], low[node])
        if low[node] == index[node]:
          group = []
          while True:
            member = stack.pop()
            on_stack.discard(member)
            group.append(member)
            if member == node:
              break
          yield group


def _is_cycle(group: list[str], edges: dict[str, set[str]]) -> bool:
  return len(group) > 1 or group[0] in edges[group[0]]


def _module_name(path: Path, root: Path) -> str:
  parts = list(path.relative_to(root.parent).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts.pop()
  return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
  test = node.test
  return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
  )


def _imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, bool]]:
  """Every import statement with whether it runs inside a function (type-only ones left out)."""

  def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.stmt, bool]]:
    for child in ast.iter_child_nodes(node):
      if isinstance(child, ast.If) and _is_type_checking(child):
        continue
      if isinstance(child, (ast.Import, ast.ImportFrom)):
        yield child, in_function
      yield from walk(child, in_function or isinstance(child, _FUNCTIONS))

  yield from walk(tree, False)


def _targets(node: ast.stmt, module: str, is_package: bool, known: set[str]) -> list[str]:
  """The modules an import statement loads, resolved against the package's modules."""
  if isinstance(node, ast.Import):
    return [alias.name for alias in node.names]
  assert isinstance(node, ast.ImportFrom)
  base = node.module or ""
  if node.level:
    parts = module.split(".")
    if not is_package:
      parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    base = ".".join(parts + ([base] if base else []))
  out = []
  for alias in node.names:
    sub = f"{base}.{alias.name}"
    out.append(sub if sub in known else base)
  return out


def build(root: Path) -> ImportGraph:
  """The import graph of the package in the folder ``root``."""
  root = root.resolve()
  files = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
  files = {name: path for name, path in files.items() if "__pycache__" not in path.parts}
  package = root.name
  known = set(files)
  edges: dict[str, set[str]] = {name: set() for name in files}
  inner: list[InnerImport] = []
  for name, path in files.items():
    tree = ast.parse(path.read_text(), filename=str(path))
    for node, in_function in _imports(tree):
      for target in _targets(node, name, path.name == "__init__.py", known):
        internal = target == package or target.startswith(package + ".")
        if in_function:
          item = InnerImport(name, node.lineno, target, internal)
          if item not in inner:
            inner.append(item)
        elif internal:
          resolved = target
          while resolved not in known and "." in resolved:
            resolved = resolved.rpartition(".")[0]
          if resolved in known and resolved != name:
            edges[name].add(resolved)
  return ImportGraph(package, files, edges, inner)


def report(graph: ImportGraph) -> str:
  """The measures of ``graph`` as text."""
  lines = [f"{len(graph.files)} modules in {len(graph.packages)} packages"]
  for package, modules in graph.packages.items():
    lines.append(f"  {package}: {len(modules)} ({', '.join(modules)})")
  for with_inner, what in ((False, "module-level imports"), (True, "all imports")):
    cycles = graph.cycles(with_inner)
    lines.append(f"import cycles among {what}: {len(cycles)}")
    for group in cycles:
      path = " -> ".join(graph.cycle_path(group, with_inner))
      lines.append(f"  {len(group)} modules, e.g. {path}")
  chain = graph.longest_chain()
  lines.append(f"longest import chain: {len(chain)} modules")
  lines.append("  " + " -> ".join(chain))
  internal = graph.internal_inner_imports()
  external = [i for i in graph.inner if not i.internal]
  statements = len({(i.module, i.line) for i in graph.inner})
  lines.append(
    f"imports inside functions: {statements} statements ({len(internal)} imports of "
    f"{graph.package} modules, {len(external)} of other libraries)"
  )
  for item in internal:
    lines.append(f"  {item.module}:{item.line} imports {item.target}")
  if external:
    targets = sorted({i.target for i in external})
    lines.append(f"  other libraries: {', '.join(targets)}")
  lines.append("largest files: " + ", ".join(f"{p} ({n})" for p, n in graph.largest_files()))
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  default = Path(__file__).resolve().parent.parent / "nasjax"
  parser.add_argument("--root", type=Path, default=default, help="the package folder")
  args = parser.parse_args(argv)
  print(report(build(args.root)))
  return 0


if __name__ == "__main__":
  sys.exit(main())
