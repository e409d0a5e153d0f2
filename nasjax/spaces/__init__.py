"""Search spaces: the supernets, their architecture parameters and their genotypes.

A space is a :class:`SearchSpace` record of functions of ``config.space``
(the supernet, the shapes of its alpha, genotype derivation, the discrete
network of a genotype, ...), registered by name in
:mod:`nasjax.spaces.registry`. One sub-package per family holds its
networks, its genotype class and its record: :mod:`nasjax.spaces.nb201`
(with the NAS-Bench-201 table), :mod:`nasjax.spaces.darts` (with
RobustDARTS' S1-S4 and the evaluation networks), :mod:`nasjax.spaces.sr`
(IMDN and DLSR super-resolution spaces) and :mod:`nasjax.spaces.trellis`
(Auto-DeepLab's segmentation trellis). The ops the families share are
:mod:`nasjax.spaces.ops` (on :mod:`nasjax.spaces.conv`); parameter and
multiply-add counts are :mod:`nasjax.spaces.flops`; a trained network saved
for use is :mod:`nasjax.spaces.saved`.

Example:
  >>> from nasjax import spaces
  >>> spaces.get_space('nb201').genotype.__name__
  'NB201Genotype'
"""

from nasjax.spaces.base import SearchSpace, select_like
from nasjax.spaces.genotype import Genotype, GenotypeError
from nasjax.spaces.registry import (
  SPACES,
  genotype_from_dict,
  get_space,
  load_genotype,
  register_space,
)

__all__ = [
  "SPACES",
  "Genotype",
  "GenotypeError",
  "SearchSpace",
  "genotype_from_dict",
  "get_space",
  "load_genotype",
  "register_space",
  "select_like",
]
