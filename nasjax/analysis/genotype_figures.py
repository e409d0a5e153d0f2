"""Genotype figures by space: which function draws a space's genotypes.

Each registered drawer writes ``genotype.png`` (and any companion file, such
as graphviz's ``genotype.dot``) for a genotype of its space; the cell graphs
of ``nb201`` and ``darts`` (:mod:`nasjax.analysis.cell_graph`) and the
super-resolution figures of ``imdn`` and ``dlsr``
(:mod:`nasjax.analysis.sr_genotype`) and the trellis' cell and path
(:mod:`nasjax.analysis.trellis_genotype`) are registered here. A space without
a drawer gets a note from ``nasjax.analyze plots`` instead of a figure; a
new one is one :func:`register_genotype_figure` call.

Example:
  >>> sorted(GENOTYPE_FIGURES)
  ['darts', 'dlsr', 'imdn', 'nb201', 'trellis']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasjax.analysis import sr_genotype, trellis_genotype
from nasjax.analysis.cell_graph import _save, genotype_png

#: ``(genotype, out_dir, candidates, space_config) -> {name: path written}``;
#: ``candidates`` are the search's ops (for colours), ``space_config`` is
#: ``config.space`` or None when the workdir has no config.
GenotypeDrawer = Callable[[Any, Path, Sequence[str] | None, Any], dict[str, Path]]

#: The genotype drawer of every space that has one, by the genotype's ``space``.
GENOTYPE_FIGURES: dict[str, GenotypeDrawer] = {}


def register_genotype_figure(space: str, draw: GenotypeDrawer, replace: bool = False) -> None:
  """Makes ``draw`` the drawer of genotypes whose ``space`` is ``space``.

  Raises:
    ValueError: if that space has a drawer already (unless ``replace``).
  """
  if space in GENOTYPE_FIGURES and GENOTYPE_FIGURES[space] is not draw and not replace:
    raise ValueError(f"genotypes of space {space!r} have a drawer already")
  GENOTYPE_FIGURES[space] = draw


def draw_genotype(
  genotype: Any, out_dir: Path, candidates: Sequence[str] | None = None, space_config: Any = None
) -> dict[str, Path]:
  """Writes the figure of ``genotype`` into ``out_dir``; ``{}`` when its space has no drawer."""
  draw = GENOTYPE_FIGURES.get(genotype.space)
  return {} if draw is None else draw(genotype, out_dir, candidates, space_config)


def _cell_graph(
  genotype: Any, out_dir: Path, candidates: Any, space_config: Any
) -> dict[str, Path]:
  del candidates, space_config  # every NAS-Bench-201 and DARTS op has its own colour
  return genotype_png(genotype, out_dir)


def _imdn(genotype: Any, out_dir: Path, candidates: Any, space_config: Any) -> dict[str, Path]:
  fig = sr_genotype.plot_imdn_genotype(genotype, candidates, space_config)
  return {"genotype": _save(fig, out_dir / "genotype.png")}


def _dlsr(genotype: Any, out_dir: Path, candidates: Any, space_config: Any) -> dict[str, Path]:
  del space_config  # the genotype holds the number of cells
  fig = sr_genotype.plot_dlsr_genotype(genotype, candidates)
  return {"genotype": _save(fig, out_dir / "genotype.png")}


def _trellis(genotype: Any, out_dir: Path, candidates: Any, space_config: Any) -> dict[str, Path]:
  del candidates  # the cell ops are DARTS', each with its own colour
  levels = None if space_config is None else space_config.get("levels")
  fig = trellis_genotype.plot_trellis_genotype(genotype, levels)
  return {"genotype": _save(fig, out_dir / "genotype.png")}


for _space, _draw in (
  ("nb201", _cell_graph),
  ("darts", _cell_graph),
  ("imdn", _imdn),
  ("dlsr", _dlsr),
  ("trellis", _trellis),
):
  register_genotype_figure(_space, _draw)
