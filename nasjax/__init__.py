"""nasjax: robust differentiable neural architecture search in JAX.

The public API is flat: everything a notebook needs is importable from
``nasjax`` directly.

Example:
  >>> import jax, nasjax
  >>> config = nasjax.search_config()
  >>> config.space.channels, config.space.cells_per_stage = 4, 1
  >>> setup = nasjax.make_search_setup(config, steps_per_epoch=100)
  >>> state = setup.init(jax.random.key(0), (32, 32, 3))
  >>> probs = setup.relaxation.probs(state.alphas)
  >>> nasjax.get_space('nb201').derive_genotype(probs, config.space).space
  'nb201'
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
from nasjax.config.protocols import (
  beta_darts_protocol,
  darts_protocol,
  darts_space,
  drnas_protocol,
  fix_alpha,
  nb201_protocol,
  pc_darts_protocol,
  robust_protocol,
  runlocal,
  runlocal_darts,
  sa_darts_protocol,
  snas_protocol,
)
from nasjax.config.retrain import imagenet_protocol, retrain_config, validate_retrain_config
from nasjax.config.search import search_config, validate_search_config
from nasjax.config.seg import seg_retrain_config, seg_search_config, seg_select_config
from nasjax.config.sr import sr_retrain_config, sr_search_config
from nasjax.core.bilevel import (
  SearchSetup,
  SearchState,
  init_search_state,
  make_search_setup,
  make_search_step,
)
from nasjax.core.discretization import discretization_error, evaluate_weights, recalibrate_bn
from nasjax.core.hypergradient import (
  HYPERGRADIENTS,
  InnerStep,
  first_order,
  second_order_exact,
  second_order_fd,
  unrolled_weights,
)
from nasjax.core.optimizers import (
  alpha_optimizer,
  epoch_cosine_schedule,
  momentum_buffer,
  weight_optimizer,
)
from nasjax.core.perturbation import PerturbationSelection
from nasjax.core.projection import Projection
from nasjax.core.regularizers import (
  Regularizer,
  beta_decay,
  describe_schedule,
  dirichlet_kl,
  entropy,
  flops_penalty,
  l2,
  make_regularizer,
  sa_penalty,
  schedule_values,
  smooth_activation,
)
from nasjax.core.relax import (
  Dirichlet,
  GumbelSoftmax,
  Relaxation,
  Softmax,
  make_relaxation,
  relaxation_config,
)
from nasjax.core.training import TrainSetup, TrainState, make_train_setup
from nasjax.errors import ConfigError, DataNotFoundError, NasjaxError
from nasjax.infra.checkpoint import Checkpointer, CheckpointError
from nasjax.infra.compilation import enable_compilation_cache, init_variables
from nasjax.spaces import SPACES, SearchSpace, get_space
from nasjax.spaces.conv import conv2d
from nasjax.spaces.darts.genotype import DARTS_OPS, DARTS_V1, DARTS_V2, PC_DARTS, DartsGenotype
from nasjax.spaces.darts.network import NetworkCIFAR, NetworkImageNet
from nasjax.spaces.darts.supernet import DartsSupernet
from nasjax.spaces.flops import count_params, multiply_adds
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.nb201.benchmark import BenchmarkTableError, NB201Result, NB201Table
from nasjax.spaces.nb201.genotype import NB201_OPS, NB201Genotype
from nasjax.spaces.nb201.supernet import NB201Network, NB201Supernet, inherit_variables
from nasjax.spaces.registry import load_genotype
from nasjax.spaces.sr.dlsr import DLSR_OPS, DLSRGenotype, DLSRNetwork, DLSRSupernet
from nasjax.spaces.sr.imdn import IMDN_ORIGINAL, IMDNGenotype, IMDNNetwork, IMDNSupernet
from nasjax.spaces.sr.ops import SR_OPS
from nasjax.spaces.trellis.genotype import TrellisGenotype
from nasjax.spaces.trellis.layout import viterbi_path
from nasjax.spaces.trellis.network import TrellisNetwork, TrellisSupernet
from nasjax.tasks.base import Task
from nasjax.tasks.classification.data import SearchData
from nasjax.tasks.classification.datasets import ImageDataset, load_dataset
from nasjax.tasks.classification.losses import accuracy, cross_entropy
from nasjax.tasks.registry import TASKS, get_task
from nasjax.tasks.segmentation.data import (
  SegSearchData,
  SegTrainData,
  load_seg_dataset,
  seg_data_config,
)
from nasjax.tasks.segmentation.images import SegImages
from nasjax.tasks.segmentation.losses import IGNORE_INDEX
from nasjax.tasks.segmentation.metrics import (
  confusion_matrix,
  evaluate_segmentation,
  segmentation_scores,
)
from nasjax.tasks.segmentation.task import SEGMENTATION
from nasjax.tasks.super_resolution.data import SRSearchData, SRTrainData, sr_data_config
from nasjax.tasks.super_resolution.images import SRImages, load_folder, load_test_sets
from nasjax.tasks.super_resolution.imresize import crop_to_multiple, downsample
from nasjax.tasks.super_resolution.losses import psnr_rgb
from nasjax.tasks.super_resolution.metrics import psnr, rgb_to_y, ssim

__version__ = "0.1.0"

from nasjax.config.select import select_config
from nasjax.run.restore import load_search
from nasjax.run.single_stage import load_network, save_network
from nasjax.spaces.saved import SingleStageNetwork
from nasjax.tasks.super_resolution.evaluate import evaluate_networks

__all__ = [
  "BenchmarkTableError",
  "CheckpointError",
  "Checkpointer",
  "ConfigError",
  "DARTS_OPS",
  "DARTS_V1",
  "DARTS_V2",
  "DLSRGenotype",
  "DLSRNetwork",
  "DLSRSupernet",
  "DLSR_OPS",
  "DartsGenotype",
  "DartsSupernet",
  "DataNotFoundError",
  "Dirichlet",
  "GenotypeError",
  "GumbelSoftmax",
  "HYPERGRADIENTS",
  "IGNORE_INDEX",
  "IMDNGenotype",
  "IMDNNetwork",
  "IMDNSupernet",
  "IMDN_ORIGINAL",
  "ImageDataset",
  "InnerStep",
  "NB201Genotype",
  "NB201Network",
  "NB201Result",
  "NB201Supernet",
  "NB201Table",
  "NB201_OPS",
  "NasjaxError",
  "NetworkCIFAR",
  "NetworkImageNet",
  "PC_DARTS",
  "PerturbationSelection",
  "Projection",
  "Regularizer",
  "Relaxation",
  "SEGMENTATION",
  "SPACES",
  "SRImages",
  "SRSearchData",
  "SRTrainData",
  "SR_OPS",
  "SearchData",
  "SearchSetup",
  "SearchSpace",
  "SearchState",
  "SegImages",
  "SegSearchData",
  "SegTrainData",
  "SingleStageNetwork",
  "Softmax",
  "TASKS",
  "Task",
  "TrainSetup",
  "TrainState",
  "TrellisGenotype",
  "TrellisNetwork",
  "TrellisSupernet",
  "accuracy",
  "alpha_hessian",
  "alpha_optimizer",
  "beta_decay",
  "beta_darts_protocol",
  "confusion_matrix",
  "conv2d",
  "count_params",
  "crop_to_multiple",
  "cross_entropy",
  "darts_protocol",
  "darts_space",
  "describe_schedule",
  "dirichlet_kl",
  "discretization_error",
  "downsample",
  "drnas_protocol",
  "enable_compilation_cache",
  "entropy",
  "epoch_cosine_schedule",
  "evaluate_networks",
  "evaluate_segmentation",
  "evaluate_weights",
  "first_order",
  "fix_alpha",
  "flops_penalty",
  "full_hessian",
  "get_space",
  "get_task",
  "hvp",
  "imagenet_protocol",
  "inherit_variables",
  "init_search_state",
  "init_variables",
  "l2",
  "lanczos",
  "load_dataset",
  "load_folder",
  "load_genotype",
  "load_network",
  "load_search",
  "load_seg_dataset",
  "load_test_sets",
  "make_hessian_fn",
  "make_plots",
  "make_regularizer",
  "make_relaxation",
  "make_search_setup",
  "make_search_step",
  "make_train_setup",
  "momentum_buffer",
  "multiply_adds",
  "nb201_protocol",
  "pc_darts_protocol",
  "power_iteration",
  "psnr",
  "psnr_rgb",
  "recalibrate_bn",
  "relaxation_config",
  "retrain_config",
  "rgb_to_y",
  "robust_protocol",
  "runlocal",
  "runlocal_darts",
  "sa_darts_protocol",
  "sa_penalty",
  "schedule_values",
  "save_network",
  "search_config",
  "second_order_exact",
  "second_order_fd",
  "seg_data_config",
  "seg_retrain_config",
  "seg_search_config",
  "seg_select_config",
  "segmentation_scores",
  "select_config",
  "should_stop_early",
  "smooth_activation",
  "snas_protocol",
  "sr_data_config",
  "sr_retrain_config",
  "sr_search_config",
  "ssim",
  "unrolled_weights",
  "validate_retrain_config",
  "validate_search_config",
  "viterbi_path",
  "weight_optimizer",
]
