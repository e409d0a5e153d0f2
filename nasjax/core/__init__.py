"""The search core: the bilevel step and the pure functions of alpha it is made of.

* :mod:`nasjax.core.state` -- :class:`SearchState` (weights, alpha, betas,
  both optimisers' states, BN statistics) and :class:`ForwardContext`;
* :mod:`nasjax.core.bilevel` -- :class:`SearchSetup`: the loss, the alpha
  update, the weight update and the step, in the config's step protocol;
* :mod:`nasjax.core.setup` -- :func:`make_search_setup`, a setup from a config;
* :mod:`nasjax.core.hypergradient` -- first order, exact second order, DARTS'
  finite difference;
* :mod:`nasjax.core.relax` -- softmax, Gumbel-softmax, Dirichlet;
* :mod:`nasjax.core.regularizers` -- the regulariser registry (SA,
  beta-decay, entropy, L2, Dirichlet KL, FLOPs) and their schedules;
* :mod:`nasjax.core.optimizers` -- the weight and alpha optimisers;
* :mod:`nasjax.core.projection`, :mod:`nasjax.core.perturbation` -- decided
  edges, and perturbation-based selection (darts-PT) on them;
* :mod:`nasjax.core.discretization` -- supernet vs derived network, BN recalibration;
* :mod:`nasjax.core.training` -- the step of retraining a derived network.

The names below are those of the modules that need no config to import;
the setup built from a config is :func:`nasjax.make_search_setup`.
"""

from nasjax.core.hypergradient import HYPERGRADIENTS, InnerStep
from nasjax.core.regularizers import Penalty, Regularizer, make_regularizer, register_regularizer
from nasjax.core.relax import Dirichlet, GumbelSoftmax, Relaxation, Softmax, make_relaxation
from nasjax.core.state import ForwardContext, SearchState

__all__ = [
  "HYPERGRADIENTS",
  "Dirichlet",
  "ForwardContext",
  "GumbelSoftmax",
  "InnerStep",
  "Penalty",
  "Regularizer",
  "Relaxation",
  "SearchState",
  "Softmax",
  "make_regularizer",
  "make_relaxation",
  "register_regularizer",
]
