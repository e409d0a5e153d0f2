"""Segmentation search configs: the defaults, the method variants and the read-outs.

:func:`seg_search_config` is :func:`nasjax.config.search_config` turned into
a semantic-segmentation search on the ``trellis`` space
(:mod:`nasjax.spaces.trellis.space`) over Cityscapes. Where the single-stage paper
(arXiv 2405.16610) gives no detail, the values are **Auto-DeepLab defaults**
(arXiv 1901.02985) and labelled so:

* search: 40 epochs, the architecture (cell alpha and network beta) updated
  from epoch 20 on (Auto-DeepLab);
* weights: SGD momentum 0.9, lr 0.025 cosine to 0.001, weight decay 3e-4
  (Auto-DeepLab); gradient clipping 5 (DARTS', a default chosen here);
* architecture: Adam lr 3e-3, betas (0.9, 0.999), weight decay 1e-3
  (Auto-DeepLab);
* data: random 321x321 crops, random rescale in [0.5, 2.0] and horizontal
  flips, batch 2 per half, the training set split 50/50 into disjoint
  halves for the weights and the architecture (Auto-DeepLab);
* space: 12 layers, 4 levels (1/4 .. 1/32), 5 blocks, filter multiplier 8
  (Auto-DeepLab).

Method functions change what a variant needs: :func:`entropy` adds the
entropy penalty on alpha and beta (constant or linear lambda, 0.1 by default:
a default chosen here, not a paper value), :func:`runlocal` shrinks any of
them to a search of minutes on a 2-core CPU over the CamVid files in
``$NASJAX_DATA_DIR/seg/camvid``.

The read-outs have their own configs: :func:`seg_select_config` for the
single-stage protocol (``python -m nasjax.select``) and
:func:`seg_retrain_config` for the two-stage retraining
(``python -m nasjax.seg_retrain``).

Example:
  >>> from nasjax.config.seg import seg_search_config, entropy
  >>> config = entropy(seg_search_config(), 'linear')
  >>> config.space.name, config.epochs, config.optimizer.alpha.warmup_epochs
  ('trellis', 40, 20)
  >>> config.regularizers.entropy.schedule
  'linear'
"""

from __future__ import annotations

import ml_collections

from nasjax.config.run_fields import validate_run_fields, validate_train_basics
from nasjax.config.search import parse_variants, search_config
from nasjax.config.select import select_config
from nasjax.errors import ConfigError
from nasjax.infra.distributed import distributed_config
from nasjax.spaces.registry import SPACES
from nasjax.spaces.trellis import space_config
from nasjax.tasks.segmentation.data import check_classes, seg_data_config, validate_seg_data

ConfigDict = ml_collections.ConfigDict

#: Variants every ``configs/seg/`` file accepts.
VARIANTS = ("runlocal", "camvid")

ENTROPY_SCHEDULES = ("constant", "linear")


def seg_space_config() -> ConfigDict:
  """The ``config.space`` block of the trellis space with Auto-DeepLab's search sizes."""

  return space_config.default_space_config()


def seg_search_config() -> ConfigDict:
  """Defaults of a first-order DARTS search on the trellis space over Cityscapes.

  Changes from :func:`nasjax.config.search_config` (see the module docstring
  for which are Auto-DeepLab defaults):
    space: :func:`seg_space_config`.
    data: :func:`nasjax.tasks.segmentation.data.seg_data_config` (Cityscapes through
      tensorflow-datasets, 19 classes, 321-pixel crops).
    epochs: 40; batch_size: 2 crops per half.
    optimizer.weights: SGD 0.025 cosine to 0.001, momentum 0.9, wd 3e-4.
    optimizer.alpha: Adam 3e-3 (0.9, 0.999), wd 1e-3, ``warmup_epochs`` 20.
    regularizers.entropy: off; ``tensors`` selects alpha (``cell``), beta
      (``network2``, ``network3``) or both (empty).
    eval: supernet loss and pixel accuracy on the validation images every
      epoch, in batches of 2.
    analysis: the discretisation gap (supernet vs the decoded network with
      inherited weights, with and without BN recalibration) every epoch on
      100 images of the alpha half.
    nb201_table: ``none``.
  """
  c = search_config()
  c.space = seg_space_config()
  c.data = seg_data_config()
  c.epochs = 40
  c.batch_size = 2
  c.optimizer.weights.update(
    name="sgd", lr=0.025, lr_min=0.001, momentum=0.9, nesterov=False, weight_decay=3e-4
  )
  c.optimizer.alpha.update(lr=3e-3, b1=0.9, b2=0.999, weight_decay=1e-3, warmup_epochs=20)
  for reg in c.regularizers.values():
    reg.tensors = ()
  c.eval.batch_size = 2
  c.analysis.update(discretization_every=1, eval_limit=100, recalibration_batches=8)
  c.nb201_table = "none"
  return c


def camvid(config: ConfigDict) -> ConfigDict:
  """Reads CamVid's 11 classes from ``$NASJAX_DATA_DIR/seg/camvid`` (void, id 11, ignored).

  The folder holds images and label PNGs with SegNet's list files
  (``train.txt``, ``val.txt``); the search keeps the crop and recipe of the
  config it changes.
  """
  config.data.update(
    source="folder",
    name="camvid",
    data_dir="$NASJAX_DATA_DIR/seg/camvid",
    train_list="train.txt",
    test_list="val.txt",
    num_classes=11,
    void_label=11,
  )
  config.space.num_classes = 11
  return config


def runlocal(config: ConfigDict) -> ConfigDict:
  """A search of minutes on a 2-core CPU: a small trellis over 64-pixel CamVid crops.

  The space keeps its ops, trellis rules and heads with 3 layers over 3
  levels, 1 block per cell and a few channels; two epochs of 6 steps of 2
  crops per half (the architecture updated from epoch 1), evaluated on the
  first 4 validation images at a quarter of their size (90x120).
  """

  camvid(config)
  config.space.update(space_config.runlocal_space())
  config.data.update(
    crop_size=64, min_scale=0.25, max_scale=0.5, steps_per_epoch=6, eval_scale=0.25, test_limit=4
  )
  config.epochs = 2
  config.batch_size = 2
  if "alpha" in config.optimizer:  # a search (a retrain config has no alpha)
    config.optimizer.alpha.warmup_epochs = min(config.optimizer.alpha.warmup_epochs, 1)
  config.eval.batch_size = 4
  if "analysis" in config:
    config.analysis.update(eval_limit=4, recalibration_batches=2)
  config.log_every_steps = 3
  config.checkpoint.async_save = False
  return config


def entropy(config: ConfigDict, schedule: str = "constant", strength: float = 0.1) -> ConfigDict:
  """Adds ``lambda_t * sum_rows H(p_row)`` over the cell alpha and the network beta.

  ``constant``: lambda = ``strength`` throughout; ``linear``: from 0 at the
  first epoch to ``strength`` at the last. The strength 0.1 is a default
  chosen here; ``--config.regularizers.entropy.tensors='("cell",)'`` restricts
  the penalty to alpha (``("network2", "network3")`` to beta).
  """
  if schedule not in ENTROPY_SCHEDULES:
    raise ConfigError(
      f"entropy schedule must be one of {list(ENTROPY_SCHEDULES)}, got {schedule!r}"
    )
  config.regularizers.entropy.update(
    enabled=True,
    schedule=schedule,
    start=0.0,
    strength=strength,
    ramp_epochs=0,
    apply_to="probs",
    reduction="sum",
  )
  return config


def method_config(arg: str | None, *methods) -> ConfigDict:
  """The config of a ``configs/seg/`` search file: its variants ``arg``, then ``methods``.

  Variants (comma-separated): ``camvid`` (:func:`camvid`, the full recipe on
  CamVid) and ``runlocal`` (:func:`runlocal`, which implies ``camvid``).

  Raises:
    ConfigError: for an unknown variant.
  """
  variants = parse_variants(arg, VARIANTS)
  config = seg_search_config()
  if "camvid" in variants:
    camvid(config)
  if "runlocal" in variants:
    runlocal(config)
  for method in methods:
    config = method(config)
  return config


def seg_select_config(arg: str | None = None) -> ConfigDict:
  """The single-stage read-out of a segmentation search (``python -m nasjax.select``).

  :func:`nasjax.select.select_config` with:
    single_stage: ``both_halves`` True (the same weights fine-tuned on the
      whole training set, as the single-stage protocol does), ``epochs`` 20
      (a default chosen here), lr 0.025 cosine to 0.001 (the search's),
      ``prune_threshold`` 0.01: network transitions and cell ops whose
      frozen weight is below it are removed before fine-tuning (a default
      chosen here; 0 keeps every path).
    eval: batches of 2 validation images.

  Variants: ``runlocal`` (2 epochs, evaluation batches of 4).
  """
  variants = parse_variants(arg, ("runlocal",))
  c = select_config()
  c.single_stage.update(epochs=20, both_halves=True, prune_threshold=0.01)
  c.eval.batch_size = 2
  if "runlocal" in variants:
    c.single_stage.epochs = 2
    c.eval.batch_size = 4
    c.log_every_steps = 3
    c.checkpoint.async_save = False
  return c


def seg_retrain_config(arg: str | None = None) -> ConfigDict:
  """Training a decoded trellis network from scratch (the two-stage read-out).

  Fields:
    seed, epochs (100, a default chosen here), batch_size (8 crops; Auto-DeepLab's
      retraining batch).
    space: the trellis block (:func:`seg_space_config`); ``--genotype``
      chooses the path and the cell, the block sets the sizes
      (``filter_multiplier``: 8 as searched; Auto-DeepLab retrains wider).
    data: :func:`nasjax.tasks.segmentation.data.seg_data_config` (the whole training set,
      every step a fresh random crop of ``crop_size``; ``steps_per_epoch``
      0 = one pass over the images).
    optimizer: SGD (``momentum`` 0.9), ``lr`` 0.05 with the poly schedule
      ``lr * (1 - step / total) ** power`` (power 0.9), weight decay 1e-4,
      ``grad_clip`` (0 = off) -- DeepLab's poly policy as Auto-DeepLab uses
      it; the values are defaults chosen here.
    eval, checkpoint, log_every_steps, progress_bar, compilation_cache,
    allow_resume_with_changes: as in a search config.

  Variants: ``camvid``, ``runlocal`` (as the search's; 4 epochs of 8 steps).
  """
  variants = parse_variants(arg, VARIANTS)
  search = search_config()
  c = ConfigDict()
  c.seed = 0
  c.epochs = 100
  c.batch_size = 8
  c.space = seg_space_config()
  c.data = seg_data_config()
  c.data.split_policy = "shared"  # one training stream: every image trains the network
  c.optimizer = ConfigDict(
    dict(name="sgd", lr=0.05, power=0.9, momentum=0.9, nesterov=False, weight_decay=1e-4,
         grad_clip=0.0, b1=0.9, b2=0.999, eps=1e-8)
  )  # fmt: skip
  c.eval = ConfigDict(dict(every_epochs=1, batch_size=2, limit=0))
  c.checkpoint = search.checkpoint
  c.log_every_steps = 50
  c.progress_bar = True
  c.compilation_cache = ""
  c.allow_resume_with_changes = False
  c.distributed = distributed_config()
  if "camvid" in variants or "runlocal" in variants:
    camvid(c)
  if "runlocal" in variants:
    runlocal(c)
    c.data.steps_per_epoch = 8
    c.epochs = 4
    c.batch_size = 4
    c.optimizer.lr = 0.02
  return c


def validate_seg_retrain_config(config: ConfigDict) -> None:
  """Checks a segmentation retrain config.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  validate_train_basics(config, set(seg_retrain_config().keys()), "a segmentation retrain config")
  if config.space.name != "trellis":
    raise ConfigError(f"config.space.name must be 'trellis', got {config.space.name!r}")
  SPACES["trellis"].validate(config.space)
  validate_seg_data(config.data)
  check_classes(config)
  opt = config.optimizer
  for field in ("power", "weight_decay", "grad_clip"):
    if not (isinstance(opt[field], (int, float)) and opt[field] >= 0):
      raise ConfigError(f"config.optimizer.{field} must be >= 0, got {opt[field]!r}")
  validate_run_fields(config)
