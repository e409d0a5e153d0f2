"""The retraining configuration: DARTS' evaluation protocols and their validation.

:func:`retrain_config` returns a ConfigDict with every field
:mod:`nasjax.retrain` reads, defaulting to DARTS' CIFAR-10 evaluation
protocol (arXiv 1806.09055, Sec. 3.3): a 20-cell network of C=36 with an
auxiliary head (weight 0.4), drop path 0.2, cutout 16, 600 epochs of batch
96, SGD lr 0.025 cosine to 0, momentum 0.9, weight decay 3e-4, gradient
clipping 5. :func:`imagenet_protocol` switches to the mobile ImageNet
setting, :func:`runlocal` shrinks a run to a CPU minute, and
:func:`validate_retrain_config` turns an impossible value into a
:class:`~nasjax.errors.ConfigError` naming the field.

Example:
  >>> from nasjax.config.retrain import retrain_config, validate_retrain_config
  >>> config = retrain_config()
  >>> config.network.channels, config.network.layers, config.epochs
  (36, 20, 600)
  >>> config.network.drop_path_prob = 1.0
  >>> validate_retrain_config(config)
  Traceback (most recent call last):
  ...
  nasjax.errors.ConfigError: config.network.drop_path_prob must be in [0, 1), got 1.0
"""

from __future__ import annotations

import ml_collections

from nasjax.checks import check, in_unit, non_negative, positive
from nasjax.config.run_fields import validate_run_fields
from nasjax.errors import ConfigError
from nasjax.infra.distributed import distributed_config, validate_distributed
from nasjax.tasks.classification.datasets import SOURCES

ConfigDict = ml_collections.ConfigDict

NETWORKS = ("cifar", "imagenet")
#: Class counts of the datasets a retrain reads (tfds names).
DATASETS = {"cifar10": 10, "cifar100": 100, "svhn": 10, "imagenet2012": 1000}


def retrain_config() -> ConfigDict:
  """Defaults: DARTS' CIFAR-10 evaluation protocol.

  Fields:
    seed: root of every random stream (init, data order, augmentation, drop path).
    epochs, batch_size: training length and the global batch per step.
    network: ``name`` (``cifar`` or ``imagenet``), ``channels`` (C),
      ``layers`` (cells), ``num_classes``, ``auxiliary`` head and its loss
      ``aux_weight``, ``drop_path_prob`` (reached at the last epoch, linearly
      from 0).
    label_smoothing: of the training loss (0 = plain cross-entropy).
    optimizer: SGD ``lr``, ``momentum``, ``nesterov``, coupled
      ``weight_decay``, global-norm ``grad_clip`` (0 = off), and the per-epoch
      ``schedule``: ``cosine`` (to ``lr_min``), ``exponential``
      (``lr * gamma ** epoch``) or ``step`` (``lr * gamma ** (epoch //
      decay_epochs)``).
    data: ``source`` (``tfds`` or ``npz``), ``name`` (tfds name: ``cifar10``,
      ``cifar100``, ``svhn`` (tfds' ``svhn_cropped``), ``imagenet2012``), ``data_dir`` and
      ``download`` for tfds, ``path`` for npz, ``train_limit`` (first N
      training images; 0 = all), ``image_size`` (the network's input),
      ``augment``: ``crop_padding``, ``flip``, ``cutout`` (CIFAR), and for
      ImageNet ``random_resized_crop`` with ``min_scale``, ``color_jitter``
      (brightness, contrast, saturation, hue), ``eval_resize`` (the shorter
      side before the centre crop) and ``workers`` (decoding threads).
    eval: test accuracy every ``every_epochs`` epochs (0 = only at the end),
      in batches of ``batch_size``, on the first ``limit`` images (0 = all).
    checkpoint, log_every_steps, progress_bar, compilation_cache,
      allow_resume_with_changes, distributed: as in a search
      (:func:`nasjax.config.search_config`). Each batch is split over all
      devices (:mod:`nasjax.infra.parallel`).
  """
  c = ConfigDict()
  c.seed = 0
  c.epochs = 600
  c.batch_size = 96
  c.network = ConfigDict(
    dict(
      name="cifar",
      channels=36,
      layers=20,
      num_classes=10,
      auxiliary=True,
      aux_weight=0.4,
      drop_path_prob=0.2,
    )
  )
  c.label_smoothing = 0.0
  c.optimizer = ConfigDict(
    dict(
      lr=0.025,
      lr_min=0.0,
      schedule="cosine",
      gamma=0.97,
      decay_epochs=1,
      momentum=0.9,
      nesterov=False,
      weight_decay=3e-4,
      grad_clip=5.0,
    )
  )
  c.data = ConfigDict(
    dict(
      source="tfds",
      name="cifar10",
      data_dir="",
      download=True,
      path="$NASJAX_DATA_DIR/cifar10_subset.npz",
      train_limit=0,
      image_size=32,
      augment=ConfigDict(
        dict(
          crop_padding=4,
          flip=True,
          cutout=16,
          random_resized_crop=False,
          min_scale=0.08,
          color_jitter=ConfigDict(dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)),
        )
      ),
      eval_resize=0,
      workers=8,
    )
  )
  c.eval = ConfigDict(dict(every_epochs=1, batch_size=256, limit=0))
  c.checkpoint = ConfigDict(dict(keep=3, every_epochs=1, async_save=True))
  c.log_every_steps = 50
  c.progress_bar = True
  c.compilation_cache = ""
  c.allow_resume_with_changes = False
  c.distributed = distributed_config()
  return c


def imagenet_protocol(config: ConfigDict) -> ConfigDict:
  """DARTS' mobile ImageNet protocol (arXiv 1806.09055, Sec. 3.3 / A.2).

  A 14-cell network of C=48 with an auxiliary head (weight 0.4) and no drop
  path; 250 epochs of batch 128; SGD lr 0.1 decayed by 0.97 per epoch,
  momentum 0.9, weight decay 3e-5, gradient clipping 5, label smoothing 0.1;
  224x224 inputs from a random resized crop, a flip and colour jitter
  (brightness, contrast, saturation 0.4, hue 0.2); evaluation on a 224
  centre crop of the image resized to 256 on its shorter side.
  """
  config.epochs = 250
  config.batch_size = 128
  config.network.update(
    name="imagenet",
    channels=48,
    layers=14,
    num_classes=1000,
    auxiliary=True,
    aux_weight=0.4,
    drop_path_prob=0.0,
  )
  config.label_smoothing = 0.1
  config.optimizer.update(
    lr=0.1,
    lr_min=0.0,
    schedule="exponential",
    gamma=0.97,
    decay_epochs=1,
    momentum=0.9,
    nesterov=False,
    weight_decay=3e-5,
    grad_clip=5.0,
  )
  config.data.update(source="tfds", name="imagenet2012", download=False, image_size=224)
  config.data.eval_resize = 256
  config.data.augment.update(crop_padding=0, flip=True, cutout=0, random_resized_crop=True)
  config.data.augment.min_scale = 0.08
  config.data.augment.color_jitter.update(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.2)
  return config


def runlocal(config: ConfigDict) -> ConfigDict:
  """Shrinks a CIFAR retrain to finish in a minute or two on a 2-core CPU.

  A network of C=8 with 5 cells, 2 epochs of 8 steps of batch 32 on the
  first 256 images of the CIFAR-10 subset in ``$NASJAX_DATA_DIR``,
  evaluated on 256 test images. The optimiser, drop path and augmentation
  are the config's own.
  """
  config.epochs = 2
  config.batch_size = 32
  config.network.update(name="cifar", channels=8, layers=5, num_classes=10)
  config.data.update(source="npz", name="cifar10", train_limit=256, image_size=32)
  config.eval.update(limit=256, batch_size=128)
  config.log_every_steps = 4
  return config


def validate_retrain_config(config: ConfigDict) -> None:
  """Checks every field a retrain reads.

  Raises:
    ConfigError: with one sentence naming the field, the bad value, and what
      is accepted.
  """
  check(isinstance(config.seed, int), f"config.seed must be an integer, got {config.seed!r}")
  if "distributed" in config:
    validate_distributed(config.distributed)
  for field in ("epochs", "batch_size"):
    value = config[field]
    check(
      isinstance(value, int) and value >= 1,
      f"config.{field} must be an integer >= 1, got {value!r}",
    )
  n = config.network
  check(n.name in NETWORKS, f"config.network.name must be one of {list(NETWORKS)}, got {n.name!r}")
  for field in ("channels", "layers", "num_classes"):
    check(
      isinstance(n[field], int) and n[field] >= 1,
      f"config.network.{field} must be an integer >= 1, got {n[field]!r}",
    )
  if n.name == "imagenet":
    check(
      n.channels % 2 == 0,
      f"config.network.channels must be even for the ImageNet stem, got {n.channels}",
    )
  check(n.layers >= 3, f"config.network.layers must be >= 3 (two reduction cells), got {n.layers}")
  non_negative(n.aux_weight, "config.network.aux_weight")
  in_unit(n.drop_path_prob, "config.network.drop_path_prob")
  in_unit(config.label_smoothing, "config.label_smoothing")

  o = config.optimizer
  positive(o.lr, "config.optimizer.lr")
  check(
    o.schedule in ("cosine", "exponential", "step"),
    f"config.optimizer.schedule must be one of ['cosine', 'exponential', 'step'], "
    f"got {o.schedule!r}",
  )
  non_negative(o.lr_min, "config.optimizer.lr_min")
  check(
    o.lr_min <= o.lr,
    f"config.optimizer.lr_min ({o.lr_min}) must not exceed config.optimizer.lr ({o.lr})",
  )
  check(
    isinstance(o.gamma, (int, float)) and 0 < o.gamma <= 1,
    f"config.optimizer.gamma must be in (0, 1], got {o.gamma!r}",
  )
  check(
    isinstance(o.decay_epochs, int) and o.decay_epochs >= 1,
    f"config.optimizer.decay_epochs must be an integer >= 1, got {o.decay_epochs!r}",
  )
  in_unit(o.momentum, "config.optimizer.momentum")
  non_negative(o.weight_decay, "config.optimizer.weight_decay")
  non_negative(o.grad_clip, "config.optimizer.grad_clip")
  _validate_data(config, SOURCES)
  validate_run_fields(config)


def _validate_data(config: ConfigDict, sources: tuple[str, ...]) -> None:
  d = config.data
  check(d.source in sources, f"config.data.source must be one of {list(sources)}, got {d.source!r}")
  if d.source == "tfds":
    check(
      d.name in DATASETS,
      f"config.data.name must be one of {sorted(DATASETS)} for the tfds source, got {d.name!r}",
    )
  imagenet = d.name == "imagenet2012"
  if imagenet and d.source != "tfds":
    raise ConfigError(
      "config.data.name='imagenet2012' is only read through config.data.source='tfds'"
    )
  if imagenet != (config.network.name == "imagenet"):
    raise ConfigError(
      f"config.network.name={config.network.name!r} does not fit config.data.name={d.name!r}; "
      f"use the 'imagenet' network with imagenet2012 and the 'cifar' network otherwise"
    )
  if d.name in DATASETS:
    check(
      config.network.num_classes == DATASETS[d.name],
      f"config.network.num_classes={config.network.num_classes} but {d.name} has "
      f"{DATASETS[d.name]} classes; set --config.network.num_classes={DATASETS[d.name]}",
    )
  check(
    isinstance(d.image_size, int) and d.image_size >= 8,
    f"config.data.image_size must be an integer >= 8, got {d.image_size!r}",
  )
  non_negative(d.train_limit, "config.data.train_limit")
  a = d.augment
  non_negative(a.crop_padding, "config.data.augment.crop_padding")
  non_negative(a.cutout, "config.data.augment.cutout")
  check(
    isinstance(a.min_scale, (int, float)) and 0 < a.min_scale <= 1,
    f"config.data.augment.min_scale must be in (0, 1], got {a.min_scale!r}",
  )
  for field in ("brightness", "contrast", "saturation"):
    non_negative(a.color_jitter[field], f"config.data.augment.color_jitter.{field}")
  check(
    isinstance(a.color_jitter.hue, (int, float)) and 0 <= a.color_jitter.hue <= 0.5,
    f"config.data.augment.color_jitter.hue must be in [0, 0.5], got {a.color_jitter.hue!r}",
  )
  non_negative(d.eval_resize, "config.data.eval_resize")
  check(
    isinstance(d.workers, int) and d.workers >= 1,
    f"config.data.workers must be an integer >= 1, got {d.workers!r}",
  )
