"""The NAS-Bench-201 space: its cell supernet and networks, genotypes and benchmark table."""

from nasjax.spaces.nb201.benchmark import NB201Result, NB201Table
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype
from nasjax.spaces.nb201.network import NB201Network, inherit_variables
from nasjax.spaces.nb201.space import NB201
from nasjax.spaces.nb201.supernet import NB201Supernet

__all__ = [
  "NB201",
  "NB201_OPS",
  "NB201Genotype",
  "NB201Network",
  "NB201Result",
  "NB201Supernet",
  "NB201Table",
  "inherit_variables",
]
