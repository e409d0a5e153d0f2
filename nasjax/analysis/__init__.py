"""Looking inside a search: the Hessian of alpha, end-of-epoch measurements, figures.

* :mod:`nasjax.analysis.hessian` -- Hessian-vector products, power
  iteration, Lanczos, the full spectrum, DARTS-ES' rule;
* :mod:`nasjax.analysis.epoch` -- the measurements a search takes at epoch
  ends (Hessian, discretisation gap, early stopping);
* :mod:`nasjax.analysis.workdir` -- the same over a finished search's
  checkpoints, and its plots (``python -m nasjax.analyze``);
* :mod:`nasjax.analysis.plots` -- the figures of a workdir: the alpha figures
  (:mod:`nasjax.analysis.alpha_plots`), the genotype drawing of each space
  (:mod:`nasjax.analysis.genotype_figures`: the cell graphs of
  :mod:`nasjax.analysis.cell_graph`, :mod:`nasjax.analysis.sr_genotype`,
  :mod:`nasjax.analysis.trellis_genotype`).
"""

from nasjax.analysis.hessian import (
  alpha_hessian,
  full_hessian,
  hvp,
  lanczos,
  make_hessian_fn,
  power_iteration,
  should_stop_early,
)
from nasjax.analysis.plots import make_plots

__all__ = [
  "alpha_hessian",
  "full_hessian",
  "hvp",
  "lanczos",
  "make_hessian_fn",
  "make_plots",
  "power_iteration",
  "should_stop_early",
]
