"""The super-resolution spaces ``imdn`` and ``dlsr``: ops, supernets, networks, genotypes."""

from nasjax.spaces.sr.dlsr import DLSRNetwork, DLSRSupernet
from nasjax.spaces.sr.dlsr_encoding import DLSR_OPS, DLSRGenotype
from nasjax.spaces.sr.imdn import IMDN_ORIGINAL, IMDNGenotype, IMDNNetwork, IMDNSupernet
from nasjax.spaces.sr.ops import SR_OPS
from nasjax.spaces.sr.space import DLSR, IMDN

__all__ = [
  "DLSR",
  "DLSRGenotype",
  "DLSRNetwork",
  "DLSRSupernet",
  "DLSR_OPS",
  "IMDN",
  "IMDNGenotype",
  "IMDNNetwork",
  "IMDNSupernet",
  "IMDN_ORIGINAL",
  "SR_OPS",
]
