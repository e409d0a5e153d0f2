"""A griffe extension for the API reference: nasjax's docstrings, read as the site renders them.

The docstrings are Google style with Sphinx cross-reference roles
(``:func:`search_config```, ``:class:`~nasjax.core.state.SearchState```) and
``#:`` doc-comments above module constants, as the doctests, ``help()`` and
Sphinx read them. For the site (``mkdocs.yml`` loads this file through
mkdocstrings' ``extensions`` option), each docstring is rewritten in
memory, the source left as it is:

* a role becomes a link to the object's entry in the reference (an optional
  cross-reference: a name the reference does not render, such as a private
  helper or a built-in, stays code without a link). A relative name is
  resolved in the scope of the object whose docstring names it; ``~`` shows
  the last part of the name only, as in Sphinx. A role naming a
  ``nasjax.*`` object that does not exist (a stale name after a rename or a
  move) logs a warning, which fails the strict build;
* an ``Example:`` section heading becomes ``Examples:``, the heading griffe
  parses into code blocks (it reads the singular as a plain admonition);
* an attribute without a docstring takes the ``#:`` comment lines right
  above it as its docstring.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: A Sphinx role of the Python domain: ``:func:`name```, ``:py:class:`~a.B```.
ROLE = re.compile(r":(?:py:)?(?:mod|class|func|meth|attr|data|exc|obj|const):`([^`]+)`")

#: A Google section heading ``Example:`` on a line of its own.
EXAMPLE_HEADING = re.compile(r"^(\s*)Example:[ \t]*$", re.M)


def exists(pkg: griffe.Module, path: str) -> bool:
  """Whether the dotted ``path`` names an object of ``pkg`` (following re-exports).

  Args:
    pkg: The loaded top-level package.
    path: A dotted path starting with the package's name.

  Returns:
    True when every part of ``path`` is a member of the object before it.
  """
  obj: griffe.Object | griffe.Alias = pkg
  for part in path.split(".")[1:]:
    if part not in obj.members:
      return False
    obj = obj.members[part]
    if obj.is_alias:
      try:
        obj = obj.final_target
      except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return False
  return True


def target_of(obj: griffe.Object, name: str) -> str:
  """The full dotted path a role's ``name`` stands for, seen from ``obj``'s docstring.

  Args:
    obj: The object whose docstring holds the role.
    name: The role's target, without ``~`` and ``()``.

  Returns:
    ``name`` itself when it starts at the package, else the path its first
    part resolves to in ``obj``'s scope followed by the rest; ``name`` as
    written when it resolves nowhere (a built-in, a name outside the package).
  """
  root = obj.package.name
  if name == root or name.startswith(root + "."):
    return name
  head, _, rest = name.partition(".")
  try:
    path = obj.resolve(head)
  except griffe.NameResolutionError:
    return name
  return f"{path}.{rest}" if rest else path


def link_roles(obj: griffe.Object, text: str) -> str:
  """``text`` with each Sphinx role replaced by an optional cross-reference.

  Args:
    obj: The object whose docstring ``text`` is.
    text: The docstring.

  Returns:
    The docstring with every role as an ``<autoref ... optional>`` element
    around the name in code.
  """
  pkg = obj.package

  def replace(match: re.Match[str]) -> str:
    written = match.group(1).strip()
    short = written.startswith("~")
    name = written.lstrip("~").removesuffix("()")
    title = name.rsplit(".", 1)[-1] if short else name
    target = target_of(obj, name)
    if target.startswith(pkg.name + ".") and not exists(pkg, target):
      where = f"{obj.relative_filepath}:{obj.docstring.lineno if obj.docstring else obj.lineno}"
      griffe.logger.warning(f"{where}: {match.group(0)} names no object of {pkg.name}")
    code = f"<code>{html.escape(title)}</code>"
    return f'<autoref identifier="{html.escape(target, quote=True)}" optional>{code}</autoref>'

  return ROLE.sub(replace, text)


def doc_comment(obj: griffe.Object) -> tuple[str, int] | None:
  """The ``#:`` comment lines right above ``obj``'s first line, and where they start.

  Args:
    obj: An attribute.

  Returns:
    The comment's text (the ``#:`` markers removed) and its first line
    number, or None when the line above is not a ``#:`` comment.
  """
  if obj.lineno is None:
    return None
  lines = obj.module.lines
  first = obj.lineno - 1  # the 0-based index of the attribute's line
  while first > 0 and lines[first - 1].strip().startswith("#:"):
    first -= 1
  comment = [line.strip()[2:].removeprefix(" ") for line in lines[first : obj.lineno - 1]]
  return ("\n".join(comment), first + 1) if comment else None


def rewrite(obj: griffe.Object, loader: griffe.GriffeLoader) -> None:
  """Rewrites the docstrings of ``obj`` and of everything defined in it.

  Args:
    obj: A module, class, function or attribute; aliases are skipped (their
      targets are rewritten where they are defined).
    loader: The loader that loaded ``obj`` (its docstring parser and options
      go to the docstrings taken from ``#:`` comments).
  """
  if obj.docstring is None and obj.is_attribute and (comment := doc_comment(obj)):
    text, lineno = comment
    obj.docstring = griffe.Docstring(
      text,
      lineno=lineno,
      endlineno=obj.lineno - 1,
      parent=obj,
      parser=loader.docstring_parser,
      parser_options=loader.docstring_options,
    )
  if obj.docstring is not None:
    text = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
    obj.docstring.value = link_roles(obj, text)
  for member in obj.members.values():
    if not member.is_alias:
      rewrite(member, loader)


class SphinxRolesAndExamples(griffe.Extension):
  """Rewrites every docstring of a loaded package for the site (see the module docstring)."""

  def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
    """Called by griffe once the package ``pkg`` is loaded.

    Args:
      pkg: The loaded package.
      loader: The loader that loaded it.
      **kwargs: The rest of griffe's hook arguments.
    """
    rewrite(pkg, loader)
