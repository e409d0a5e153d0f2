"""Auto-DeepLab's segmentation trellis: its layout, supernet, decoded networks and genotypes."""

from nasjax.spaces.trellis.genotype import TrellisGenotype
from nasjax.spaces.trellis.layout import viterbi_path
from nasjax.spaces.trellis.network import TrellisNetwork, TrellisSupernet
from nasjax.spaces.trellis.space import TRELLIS

__all__ = ["TRELLIS", "TrellisGenotype", "TrellisNetwork", "TrellisSupernet", "viterbi_path"]
