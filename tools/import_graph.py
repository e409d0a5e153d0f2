"""The import graph of a Python package: its modules, cycles, longest chain and inner imports.

Reads the source with :mod:`ast` (nothing is imported or run) and prints:

* the modules of every package (a folder with an ``__init__.py``);
* the import cycles among module-level imports (strongly connected groups
  of modules, each with one cycle spelled out), and the same counting the
  imports inside functions (the cycles those imports hide);
* the import-order hazards: Python imports a package's ``__init__`` before
  its modules, so a module-level import can reach a module that is still
  running (partly executed) even where the graph has no cycle. The
  ``hazards`` check imports every module first, as Python would (its
  packages' ``__init__`` files first, the top-level one as if empty, then
  every module-level import in order), and reports each import that would
  need a name a running module has not defined yet;
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

  def hazards(self) -> list[str]:
    """Import-order hazards, importing each module first (see the module docstring)."""
    found: list[str] = []
    _Simulation(self, found, empty_top=False).run(self.package)  # ``import nasjax`` as it is
    for entry in sorted(self.files):
      _Simulation(self, found).run(entry)
    return sorted(set(found))

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


class _Simulation:
  """Python's import of one module, statement by statement, over the parsed source.

  Tracks which modules are running and the names each has bound so far; an
  import that takes a name (or, at module level, an attribute of an imported
  module) from a running module that has not bound it yet is a hazard.
  """

  def __init__(self, graph: ImportGraph, found: list[str], empty_top: bool = True):
    self.graph = graph
    self.found = found
    self.state: dict[str, str] = {}
    self.bound: dict[str, set[str]] = {}
    if empty_top:  # the top-level package as if it imported nothing
      self.state[graph.package], self.bound[graph.package] = "done", set()
    self.stack: list[str] = []

  def run(self, module: str) -> None:
    self._start_packages(module)
    if module not in self.state:
      self._execute(module)

  def _start_packages(self, module: str) -> None:
    parts = module.split(".")
    for k in range(1, len(parts) + (module == self.graph.package)):
      package = ".".join(parts[:k])
      if package in self.graph.files and package not in self.state:
        self._execute(package)

  def _execute(self, module: str) -> None:
    self.state[module] = "running"
    self.bound[module] = set()
    self.stack.append(module)
    tree = ast.parse(self.graph.files[module].read_text())
    module_loads = _module_level_loads(tree)
    for node in _top_statements(tree.body):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        self._import(module, node, module_loads)
      self.bound[module].update(_bound_names(node))
    self.stack.pop()
    self.state[module] = "done"

  def _import(self, module: str, node: ast.stmt, module_loads: set[str]) -> None:
    known = set(self.graph.files)
    is_package = self.graph.files[module].name == "__init__.py"
    targets = _targets(node, module, is_package, known)
    aliases = [(a.name, a.asname) for a in node.names] if isinstance(node, ast.ImportFrom) else []
    for i, target in enumerate(targets):
      internal = target == self.graph.package or target.startswith(self.graph.package + ".")
      if not internal or target not in known:
        continue
      self._start_packages(target)
      if target not in self.state:
        self._execute(target)
      if self.state[target] != "running":
        continue
      chain = " -> ".join([*self.stack, target])
      if isinstance(node, ast.ImportFrom) and i < len(aliases):
        name, asname = aliases[i]
        submodule = f"{target}.{name}" in known
        if not submodule and name not in self.bound[target]:
          self.found.append(
            f"{module}:{node.lineno} takes {name!r} from running {target} ({chain})"
          )
        elif submodule is False and (asname or name) in module_loads:
          pass
      # a module (running) bound here and used at module level
      used = {asname or name for name, asname in aliases} if aliases else set()
      if isinstance(node, ast.ImportFrom) and target in {f"{node.module}.{n}" for n, _ in aliases}:
        alias = next(
          asname or name for name, asname in aliases if f"{node.module}.{name}" == target
        )
        if alias in module_loads:
          self.found.append(
            f"{module}:{node.lineno} uses running {target} at module level ({chain})"
          )
      del used


def _top_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
  """The statements a module runs at import, ``if``/``try`` blocks flattened."""
  for node in body:
    if isinstance(node, ast.If):
      if _is_type_checking(node):
        continue
      yield from _top_statements(node.body)
      yield from _top_statements(node.orelse)
    elif isinstance(node, ast.Try):
      yield from _top_statements(node.body)
      for handler in node.handlers:
        yield from _top_statements(handler.body)
      yield from _top_statements(node.orelse)
      yield from _top_statements(node.finalbody)
    else:
      yield node


def _bound_names(node: ast.stmt) -> set[str]:
  """The names a top-level statement binds in its module."""
  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
    return {node.name}
  if isinstance(node, (ast.Import, ast.ImportFrom)):
    return {(a.asname or a.name).split(".")[0] for a in node.names}
  names = set()
  for sub in ast.walk(node):
    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
      names.add(sub.id)
  return names


def _module_level_loads(tree: ast.Module) -> set[str]:
  """Names read while the module runs (outside function bodies and lambdas)."""
  loads: set[str] = set()

  def walk(node: ast.AST) -> None:
    for child in ast.iter_child_nodes(node):
      if isinstance(child, _FUNCTIONS):
        # decorators and defaults run at import; the body does not
        if not isinstance(child, ast.Lambda):
          for expr in [*child.decorator_list, *child.args.defaults, *child.args.kw_defaults]:
            if expr is not None:
              walk_expr(expr)
        continue
      if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
        loads.add(child.id)
      walk(child)

  def walk_expr(expr: ast.AST) -> None:
    if isinstance(expr, ast.Name) and isinstance(expr.ctx, ast.Load):
      loads.add(expr.id)
    walk(expr)

  walk(tree)
  return loads


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
  hazards = graph.hazards()
  lines.append(f"import-order hazards: {len(hazards)}")
  lines.extend(f"  {h}" for h in hazards)
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
