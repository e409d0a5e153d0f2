"""Super-resolution search configs: the defaults and the method transformations.

:func:`sr_search_config` is :func:`nasjax.config.search_config` turned into
an x2 super-resolution search: an SR space (``imdn`` or ``dlsr``), the SR
data block (:func:`nasjax.tasks.super_resolution.data.sr_data_config`: DIV2K through
tensorflow-datasets, or a folder of PNGs), the L1 loss (the space's task,
:mod:`nasjax.tasks.super_resolution.losses`), and Adam for the weights as well as for alpha (the
DLSR protocol). The method functions (:func:`beta`, :func:`sa`, :func:`sac`,
:func:`flops`) change what a method needs, as :mod:`nasjax.config.protocols` does
for the CIFAR spaces; :func:`runlocal` shrinks any of them to a search of a
few steps on patches of the Set14 images, evaluated on Set5 crops.

Values the papers leave open are defaults chosen here and labelled so in the
field list below: the number of epochs and steps per epoch, the weight
learning rate and its schedule, the FLOPs strength.

Example:
  >>> from nasjax.config.sr import sr_search_config, sa
  >>> config = sa(sr_search_config('imdn'))
  >>> config.space.name, config.data.scale, config.regularizers.sa.enabled
  ('imdn', 2, True)
"""

from __future__ import annotations

from collections.abc import Callable

import ml_collections

from nasjax.config.protocols import beta_darts_protocol, sa_darts_protocol
from nasjax.config.run_fields import validate_run_fields, validate_train_basics
from nasjax.config.search import parse_variants, search_config
from nasjax.errors import ConfigError
from nasjax.infra.distributed import distributed_config
from nasjax.spaces.registry import SPACES
from nasjax.spaces.sr import space as sr_spaces
from nasjax.tasks.super_resolution.data import sr_data_config, validate_sr_data

ConfigDict = ml_collections.ConfigDict

#: The SR spaces and their default space blocks.
SR_SPACES = ("imdn", "dlsr")


def sr_space_config(name: str, scale: int = 2) -> ConfigDict:
  """The ``config.space`` block of SR space ``name`` with its defaults (the paper's sizes).

  Raises:
    ConfigError: for a space that is not an SR space.
  """
  if name not in SR_SPACES:
    raise ConfigError(f"unknown super-resolution space {name!r}; choose one of {list(SR_SPACES)}")
  return sr_spaces.default_space_config(name, scale)


def sr_search_config(space: str = "imdn", scale: int = 2) -> ConfigDict:
  """Defaults of a first-order DARTS search on an SR space (x``scale``, DIV2K).

  Changes from :func:`nasjax.config.search_config`:
    space: :func:`sr_space_config` (``scale`` must equal ``data.scale``).
    data: :func:`nasjax.tasks.super_resolution.data.sr_data_config` (DIV2K bicubic x``scale``
      through tfds; HR patches of 96 pixels; 1000 steps per epoch).
    epochs: 20, batch_size: 16 patches per half (defaults chosen here).
    optimizer.weights: Adam (0.9, 0.999), lr 5e-4 cosine to 1e-5 per epoch,
      no weight decay, no clipping (defaults chosen here; the DLSR protocol
      trains weights and alpha with Adam).
    optimizer.alpha: Adam lr 3e-4, betas (0.5, 0.999), L2 1e-3 (DARTS').
    eval: supernet PSNR on centre crops of the test images every epoch.
    nb201_table: ``none``.
  """
  c = search_config()
  c.space = sr_space_config(space, scale)
  c.data = sr_data_config()
  c.data.scale = scale
  c.epochs = 20
  c.batch_size = 16
  c.optimizer.weights.update(
    name="adam", lr=5e-4, lr_min=1e-5, weight_decay=0.0, grad_clip=0.0, b1=0.9, b2=0.999
  )
  c.eval.batch_size = 16
  c.nb201_table = "none"
  return c


def method_config(space: str, arg: str | None, *methods: Callable[[ConfigDict], ConfigDict]):
  """The config of a ``configs/sr/`` file: ``space``, its variants ``arg``, then ``methods``.

  Variants (comma-separated): ``x3``, ``x4`` (the scale; x2 by default) and
  ``runlocal`` (:func:`runlocal`).

  Raises:
    ConfigError: for an unknown variant.
  """
  variants = parse_variants(arg, ("runlocal", "x3", "x4"))
  scale = 3 if "x3" in variants else 4 if "x4" in variants else 2
  config = sr_search_config(space, scale)
  if space == "dlsr":
    dlsr_protocol(config)
  if "runlocal" in variants:
    runlocal(config)
  for method in methods:
    config = method(config)
  return config


def dlsr_protocol(config: ConfigDict) -> ConfigDict:
  """The search settings of DLSR's public code (github DawnHH/DLSR-PyTorch).

  Weights: Adam (0.9, 0.999), lr 5e-4, decay 1e-8; alpha: Adam 3e-4, betas
  (0.5, 0.999), decay 1e-8, updated from epoch 20 on; three quarters of
  the training images train the weights and the rest alpha (the code: DIV2K
  images 1-600 and 601-800; ``split_policy='ratio'``, 0.75); 64
  HR patches of 192 pixels per step. The code halves the weight lr at
  epochs 200/400/600 of up to 1000; here the cosine schedule of
  :func:`sr_search_config` runs over 100 epochs (a choice made here). The
  code's alpha loss also adds the training L1 (and a parameter term it
  detaches, which has no gradient); here alpha follows the validation loss
  as in DARTS.
  """
  config.epochs = 100
  config.batch_size = 64
  config.optimizer.weights.update(lr=5e-4, weight_decay=1e-8)
  config.optimizer.alpha.update(lr=3e-4, b1=0.5, b2=0.999, weight_decay=1e-8, warmup_epochs=20)
  config.data.update(patch_size=192, split_policy="ratio", split_ratio=0.75)
  return config


def beta(config: ConfigDict) -> ConfigDict:
  """Beta-DARTS: beta-decay on alpha's logits, lambda_t = 50 * epoch / 100 (0.5 per epoch)."""
  return beta_darts_protocol(config)


def sa(config: ConfigDict) -> ConfigDict:
  """SA-DARTS: Eq. 8 (``a=1``) on alpha's logits, lambda_t = epoch / 5 (0.2 per epoch), no L2."""
  return sa_darts_protocol(config)


def sac(config: ConfigDict, partial_channels: int = 4) -> ConfigDict:
  """SAC-DARTS: :func:`sa` plus partial channels (1/K of each mixed op's channels, K=4).

  The SR spaces' searched positions are single ops, not nodes with several
  incoming edges, so there is no edge normalisation to add.
  """
  config = sa(config)
  config.space.partial_channels = partial_channels
  return config


def flops(config: ConfigDict, strength: float = 1e-3) -> ConfigDict:
  """The FLOPs-constrained alpha loss, ``strength * sum_e sum_o p_eo * GMAC_eo``.

  The strength 1e-3 per GMAC is a default chosen here.
  """
  config.regularizers.flops.update(enabled=True, schedule="constant", strength=strength)
  return config


def runlocal(config: ConfigDict) -> ConfigDict:
  """A search of a few steps on a CPU: a small supernet, Set14 patches, Set5 crops.

  The space keeps its candidates and layout with fewer channels and blocks;
  two epochs of four steps on 48-pixel HR patches of the Set14 images
  (``$NASJAX_DATA_DIR/sr/Set14``), evaluated on 48-pixel centre crops of Set5.
  """
  config.space.update(sr_spaces.runlocal_space(config.space.name))
  config.data.update(
    source="folder",
    train_dir="$NASJAX_DATA_DIR/sr/Set14",
    test_dir="$NASJAX_DATA_DIR/sr/Set5",
    patch_size=48,
    eval_patch_size=48,
    steps_per_epoch=4,
  )
  config.epochs = 2
  config.batch_size = 4
  config.eval.batch_size = 5
  if "alpha" in config.optimizer:  # a search (a retrain config has no alpha)
    config.optimizer.alpha.warmup_epochs = min(config.optimizer.alpha.warmup_epochs, 1)
  config.log_every_steps = 2
  config.checkpoint.async_save = False
  return config


def sr_retrain_config(space: str = "imdn", scale: int = 2) -> ConfigDict:
  """Defaults for training a searched SR network from scratch (IMDN's protocol).

  Fields:
    seed, epochs (1000), batch_size (16 patches).
    space: the SR space's block (:func:`sr_space_config`): the network's
      size and scale; ``--genotype`` picks its ops.
    data: :func:`nasjax.tasks.super_resolution.data.sr_data_config` with HR patches of
      ``64 * scale`` pixels (16 LR patches of 64x64, as IMDN).
    optimizer: Adam (``b1``, ``b2``, ``eps``), ``lr`` 2e-4 halved every
      ``halve_every`` (200) epochs; ``weight_decay``, ``grad_clip`` (0 = off).
    eval, checkpoint, log_every_steps, progress_bar, compilation_cache,
    allow_resume_with_changes: as in a search config.

  IMDN counts its 1000 epochs over DIV2K with its own epoch length; here an
  epoch is ``data.steps_per_epoch`` (1000) steps, a choice made here.
  """
  search = search_config()
  c = ConfigDict()
  c.seed = 0
  c.epochs = 1000
  c.batch_size = 16
  c.space = sr_space_config(space, scale)
  c.data = sr_data_config()
  c.data.update(scale=scale, patch_size=64 * scale, eval_patch_size=64 * scale)
  c.optimizer = ConfigDict(
    dict(
      name="adam",
      lr=2e-4,
      halve_every=200,
      b1=0.9,
      b2=0.999,
      eps=1e-8,
      weight_decay=0.0,
      grad_clip=0.0,
    )
  )
  c.eval = ConfigDict(dict(every_epochs=1, batch_size=16, limit=0))
  c.checkpoint = search.checkpoint
  c.log_every_steps = 100
  c.progress_bar = True
  c.compilation_cache = ""
  c.allow_resume_with_changes = False
  c.distributed = distributed_config()
  return c


def retrain_runlocal(config: ConfigDict) -> ConfigDict:
  """A short training on a CPU: the runlocal space size, Set14 patches, Set5 crops.

  Four epochs of 50 steps at lr 1e-3, halved every epoch: a network of the
  runlocal search's size learns to beat a constant image within a minute.
  """
  runlocal(config)
  config.data.steps_per_epoch = 50
  config.epochs = 4
  config.batch_size = 8
  config.optimizer.update(lr=1e-3, halve_every=1)
  config.log_every_steps = 25
  return config


def validate_sr_retrain_config(config: ConfigDict) -> None:
  """Checks an SR retrain config.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  validate_train_basics(config, set(sr_retrain_config().keys()), "an SR retrain config")
  if config.space.name not in SR_SPACES:
    raise ConfigError(
      f"config.space.name must be a super-resolution space {list(SR_SPACES)}, got "
      f"{config.space.name!r}"
    )
  SPACES[config.space.name].validate(config.space)
  validate_sr_data(config.data)
  if config.data.scale != config.space.scale:
    raise ConfigError(
      f"config.data.scale={config.data.scale} but config.space.scale={config.space.scale}; set "
      "both to the same factor"
    )
  opt = config.optimizer
  halve = opt.halve_every
  if isinstance(halve, bool) or not isinstance(halve, int) or halve < 0:
    raise ConfigError(f"config.optimizer.halve_every must be an integer >= 0, got {halve!r}")
  for field in ("weight_decay", "grad_clip"):
    if not (isinstance(opt[field], (int, float)) and opt[field] >= 0):
      raise ConfigError(f"config.optimizer.{field} must be >= 0, got {opt[field]!r}")
  validate_run_fields(config)
