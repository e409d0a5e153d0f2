"""Train a decoded trellis network from scratch: the two-stage read-out of a segmentation search.

Its command line is ``python -m nasjax.seg_retrain`` (:mod:`nasjax.seg_retrain`).

``--genotype`` is a trellis genotype file: a search's ``genotype.json`` (the
Viterbi path of the network-level weights and the argmax cell), a
selection's ``selection.json``, a genotype JSON, or a text file with the
genotype string. The config's ``space`` block sets the network's sizes
(``layers`` must match the genotype's path). The decoded network
(:class:`nasjax.spaces.trellis.network.TrellisNetwork`) trains with affine,
running-statistics BN from freshly initialised weights. Re-running the same
command with the same ``--workdir`` resumes.

Training follows :func:`nasjax.config.seg.seg_retrain_config`: pixel-wise
cross-entropy with the ignore label left out, SGD with the poly learning
rate, random rescaled crops with flips of every training image. The workdir
receives ``config.json``, ``genotype.json``, ``checkpoints/``,
``metrics.jsonl`` and ``tensorboard/`` (train loss and pixel accuracy; test
loss and pixel accuracy per evaluated epoch), and at the end ``network/``
(:func:`nasjax.load_network`) and ``final.json`` (mIoU, per-class IoU and
pixel accuracy on the whole test images, parameters and multiply-adds at
1024x2048). ``python -m nasjax.evaluate_seg`` measures it again, on another
split or by sliding window.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from nasjax.config.seg import validate_seg_retrain_config
from nasjax.core.optimizers import weight_optimizer
from nasjax.core.training import TaskTrainSetup, TrainState
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import safety as runs
from nasjax.run.retrain import open_workdir, resume_and_train
from nasjax.spaces import flops
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import get_space, load_genotype
from nasjax.spaces.saved import load_network, save_network
from nasjax.tasks.segmentation import data as seg_data
from nasjax.tasks.segmentation import evaluate as evaluate_seg
from nasjax.tasks.segmentation.evaluate import COST_SHAPE
from nasjax.tasks.segmentation.task import SEGMENTATION

Array = jax.Array
Batch = dict[str, Array]


def resolve_genotype(spec: Any, space_config: ml_collections.ConfigDict) -> Any:
  """A trellis genotype from an object or a file, checked against the config's layers.

  Raises:
    GenotypeError: if the file holds no trellis genotype or its path has the wrong length.
  """
  if isinstance(spec, (str, os.PathLike)):
    spec = load_genotype(spec)
  if getattr(spec, "space", None) != "trellis":
    raise GenotypeError(
      f"the genotype is of space {getattr(spec, 'space', None)!r}, not 'trellis'; pass the "
      f"genotype.json of a segmentation search or its select/argmax/selection.json"
    )
  if len(spec.path) != space_config.layers:
    raise GenotypeError(
      f"the genotype's path has {len(spec.path)} layers but config.space.layers is "
      f"{space_config.layers}; set --config.space.layers={len(spec.path)}"
    )
  return spec


def poly_schedule(lr: float, power: float, total_steps: int) -> optax.Schedule:
  """DeepLab's poly policy: ``lr * (1 - step / total_steps) ** power``."""

  def schedule(step: Array) -> Array:
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(total_steps, 1), 0.0, 1.0)
    return jnp.asarray(lr, jnp.float32) * (1.0 - frac) ** power

  return schedule


#: The decoded network's BN when it trains from scratch (the search's has neither).
TRAINED_BN = {"affine": True, "track_running_stats": True}


def build_network(genotype: Any, space_config: ml_collections.ConfigDict) -> Any:
  """The decoded network of ``genotype`` for training: affine BN with running statistics."""
  return get_space("trellis").build_network(genotype, space_config).clone(**TRAINED_BN)


def make_setup(
  config: ml_collections.ConfigDict, steps_per_epoch: int, genotype: Any
) -> TaskTrainSetup:
  """Validates ``config`` and builds the functions of training ``genotype``'s network."""
  validate_seg_retrain_config(config)
  opt = config.optimizer
  schedule = poly_schedule(opt.lr, opt.power, config.epochs * steps_per_epoch)
  return TaskTrainSetup(
    config=config,
    model=build_network(genotype, config.space),
    tx=weight_optimizer(opt, schedule),
    lr_schedule=schedule,
    steps_per_epoch=steps_per_epoch,
    task=SEGMENTATION,
  )


@dataclasses.dataclass
class SegRetrainResult:
  """What a finished retrain returns (everything but ``state`` is also in its workdir)."""

  workdir: Path
  genotype: Any
  state: TrainState
  scores: dict[str, Any]
  params: int
  multiply_adds: int
  step: int


def run(
  config: ml_collections.ConfigDict, genotype: Any, workdir: str | os.PathLike
) -> SegRetrainResult:
  """Trains (or resumes training) ``genotype``'s network as ``config`` describes.

  Args:
    config: a segmentation retrain config (:func:`nasjax.config.seg.seg_retrain_config`
      or ``configs/seg/two_stage_retrain.py``).
    genotype: a trellis genotype or a genotype file.
    workdir: the output folder; training resumes from its latest checkpoint.

  Returns:
    The final state, the whole-image test scores and the network's cost.

  Raises:
    NasjaxError: for a bad config or genotype, missing data, an unusable
      checkpoint, or a diverged run, with a message naming the fix.
  """
  t_start = time.perf_counter()
  validate_seg_retrain_config(config)
  genotype = resolve_genotype(genotype, config.space)
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  enable_compilation_cache(config.compilation_cache or None)

  train, test = seg_data.load_seg_dataset(config.data)
  data = seg_data.SegTrainData(
    train,
    config.data,
    config.seed,
    config.batch_size,
    jax.process_index(),
    jax.process_count(),
    test=test,
  )
  spe = data.steps_per_epoch
  total = config.epochs * spe
  setup = make_setup(config, spe, genotype)
  opened = open_workdir(workdir, config, genotype, is_main)

  state = setup.init(jax.random.key(config.seed), data.image_shape)
  n_params = flops.count_params(state.params)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  macs = flops.multiply_adds(setup.model, variables, COST_SHAPE, train=False)
  runs.say(
    is_main,
    f"network: {n_params / 1e6:.3f}M parameters, {macs / 1e9:.1f}G multiply-adds at "
    f"{COST_SHAPE[0]}x{COST_SHAPE[1]}",
  )
  state, _, test_crops, elapsed = resume_and_train(config, setup, state, data, opened, t_start)
  info = {
    "method": "two_stage",
    "genotype": genotype.to_dict(),
    "test_pixel_acc_batches": test_crops["pixel_acc"],
    "test_loss": test_crops["loss"],
    "params": n_params,
    "multiply_adds": macs,
    "cost_shape": list(COST_SHAPE),
    "epochs": config.epochs,
    "steps": total,
    "time_s": elapsed(),
  }
  path = save_network(
    workdir / "network",
    config.space,
    state.params,
    state.batch_stats,
    {},
    {},
    info,
    genotype,
    module_fields=TRAINED_BN,
  )
  scores = evaluate_seg.evaluate_on(load_network(path), config.data, data)
  info.update(test_miou=scores["miou"], test_pixel_acc=scores["pixel_acc"], test_iou=scores["iou"])
  if is_main:
    write_json(workdir / "final.json", info)
    print(
      f"seg_retrain finished: {total} steps, {config.epochs} epochs, {elapsed():.1f} s\n"
      f"test mIoU {100 * scores['miou']:.2f}%, pixel accuracy {100 * scores['pixel_acc']:.2f}% "
      f"(whole images); {n_params / 1e6:.3f}M parameters, {macs / 1e9:.1f}G multiply-adds\n"
      f"outputs: {workdir}",
      flush=True,
    )
  return SegRetrainResult(workdir, genotype, state, scores, n_params, macs, total)
