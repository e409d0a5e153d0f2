"""The DARTS CNN space (with RobustDARTS' S1-S4): supernet, genotypes, evaluation networks."""

from nasjax.spaces.darts.genotype import (
  DARTS_OPS,
  DARTS_V1,
  DARTS_V2,
  NAMED_GENOTYPES,
  PC_DARTS,
  DartsGenotype,
)
from nasjax.spaces.darts.network import NetworkCIFAR, NetworkImageNet
from nasjax.spaces.darts.space import DARTS
from nasjax.spaces.darts.supernet import DartsSupernet

__all__ = [
  "DARTS",
  "DARTS_OPS",
  "DARTS_V1",
  "DARTS_V2",
  "NAMED_GENOTYPES",
  "PC_DARTS",
  "DartsGenotype",
  "DartsSupernet",
  "NetworkCIFAR",
  "NetworkImageNet",
]
