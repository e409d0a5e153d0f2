"""Train a searched super-resolution network from scratch, from the command line or a notebook.

Its command line is ``python -m nasjax.sr_retrain`` (:mod:`nasjax.sr_retrain`).

``--genotype`` is a genotype file of an SR space (a search's
``genotype.json``, a selection's ``selection.json``, a genotype JSON, or a
text file with the genotype string) or ``IMDN``, the original IMDN (four
plain 3x3 convolutions per block). The config's ``space`` block sets the
network's size and scale; it must name the genotype's space. Re-running the
same command with the same ``--workdir`` resumes.

Training follows IMDN's protocol (the defaults of
:func:`nasjax.config.sr.sr_retrain_config`): L1 loss, Adam (0.9, 0.999),
lr 2e-4 halved every 200 epochs of 1000 steps, 16 random HR patches of 128
pixels (x2) with flips and rotations. The workdir receives ``config.json``,
``genotype.json``, ``checkpoints/``, ``metrics.jsonl`` and ``tensorboard/``
(train L1 and PSNR; test L1 and PSNR on centre crops of the test images per
evaluated epoch), and at the end ``network/`` (:func:`nasjax.load_network`)
and ``final.json`` (test PSNR, parameters, multiply-adds at a 1280x720
output). ``python -m nasjax.evaluate_sr`` then measures the whole test
images (PSNR and SSIM on the Y channel).
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

from nasjax.config.sr import validate_sr_retrain_config
from nasjax.core.optimizers import weight_optimizer
from nasjax.core.training import TaskTrainSetup, TrainState
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import safety as runs
from nasjax.run.retrain import open_workdir, resume_and_train
from nasjax.spaces import flops
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import get_space, load_genotype
from nasjax.spaces.saved import save_network
from nasjax.spaces.sr.imdn import IMDN_ORIGINAL
from nasjax.tasks.super_resolution import data as sr_data
from nasjax.tasks.super_resolution.task import SUPER_RESOLUTION

Array = jax.Array
PyTree = Any
Batch = dict[str, Array]

#: The output size multiply-adds are reported at (width x height), as SR papers do.
COST_OUTPUT = (1280, 720)


def resolve_genotype(spec: Any, space_config: ml_collections.ConfigDict) -> Any:
  """An SR genotype from an object, a file, or the name ``IMDN``.

  Raises:
    GenotypeError: if the file holds no genotype of the config's space.
  """
  space = get_space(space_config.name)
  if isinstance(spec, (str, os.PathLike)) and str(spec).upper() == "IMDN":
    if space.name != "imdn":
      raise GenotypeError(f"--genotype=IMDN needs --config.space.name=imdn, not {space.name!r}")

    spec = IMDN_ORIGINAL
  if isinstance(spec, (str, os.PathLike)):
    spec = load_genotype(spec)
  if getattr(spec, "space", None) != space.name:
    raise GenotypeError(
      f"the genotype is of space {getattr(spec, 'space', None)!r} but config.space.name is "
      f"{space.name!r}; pass a genotype of that space or set --config.space.name"
    )
  return spec


def cost_shape(scale: int) -> tuple[int, int, int]:
  """The LR input shape (H, W, 3) whose x``scale`` output is 1280x720."""
  width, height = COST_OUTPUT
  return (height // scale, width // scale, 3)


def halving_schedule(lr: float, halve_every: int, steps_per_epoch: int) -> optax.Schedule:
  """``lr * 0.5 ** (epoch // halve_every)``, constant within an epoch (0 = never halve)."""

  def schedule(step: Array) -> Array:
    if not halve_every:
      return jnp.asarray(lr, jnp.float32)
    epoch = jnp.asarray(step) // steps_per_epoch
    return jnp.asarray(lr * 0.5 ** (epoch // halve_every).astype(jnp.float32), jnp.float32)

  return schedule


def make_setup(config: ml_collections.ConfigDict, steps_per_epoch: int, genotype: Any):
  """Validates ``config`` and builds the functions of training ``genotype``'s network."""
  validate_sr_retrain_config(config)
  opt = config.optimizer
  schedule = halving_schedule(opt.lr, opt.halve_every, steps_per_epoch)
  return TaskTrainSetup(
    config=config,
    model=get_space(config.space.name).build_network(genotype, config.space),
    tx=weight_optimizer(opt, schedule),
    lr_schedule=schedule,
    steps_per_epoch=steps_per_epoch,
    task=SUPER_RESOLUTION,
  )


@dataclasses.dataclass
class SRRetrainResult:
  """What a finished SR retrain returns (everything but ``state`` is also in its workdir)."""

  workdir: Path
  genotype: Any
  state: TrainState
  test: dict[str, float]
  params: int
  multiply_adds: int
  step: int


def run(
  config: ml_collections.ConfigDict, genotype: Any, workdir: str | os.PathLike
) -> SRRetrainResult:
  """Trains (or resumes training) ``genotype``'s SR network as ``config`` describes.

  Args:
    config: an SR retrain config (:func:`nasjax.config.sr.sr_retrain_config`
      or ``configs/sr/retrain.py``).
    genotype: a genotype of the config's SR space, a genotype file, or ``'IMDN'``.
    workdir: the output folder; training resumes from its latest checkpoint.

  Returns:
    The final state, test PSNR on the evaluation crops, and the network's cost.

  Raises:
    NasjaxError: for a bad config or genotype, missing data, an unusable
      checkpoint, or a diverged run, with a message naming the fix.
  """
  t_start = time.perf_counter()

  validate_sr_retrain_config(config)
  genotype = resolve_genotype(genotype, config.space)
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  enable_compilation_cache(config.compilation_cache or None)

  train, test = sr_data.load_sr_dataset(config.data)
  data = sr_data.SRTrainData(
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
  macs = flops.multiply_adds(setup.model, variables, cost_shape(config.data.scale), train=False)
  runs.say(
    is_main,
    f"network: {n_params / 1e3:.1f}K parameters, {macs / 1e9:.2f}G multiply-adds at a "
    f"{COST_OUTPUT[0]}x{COST_OUTPUT[1]} output",
  )
  state, _, test, elapsed = resume_and_train(config, setup, state, data, opened, t_start)
  info = {
    "genotype": genotype.to_dict(),
    "scale": config.data.scale,
    "test_psnr_crops": test["psnr"],
    "test_loss": test["loss"],
    "params": n_params,
    "multiply_adds": macs,
    "cost_output": list(COST_OUTPUT),
    "epochs": config.epochs,
    "steps": total,
    "time_s": elapsed(),
  }
  save_network(
    workdir / "network", config.space, state.params, state.batch_stats, {}, {}, info, genotype
  )
  if is_main:
    write_json(workdir / "final.json", info)
    print(
      f"sr_retrain finished: {total} steps, {config.epochs} epochs, {elapsed():.1f} s\n"
      f"test PSNR (RGB, centre crops) {test['psnr']:.2f} dB; {n_params / 1e3:.1f}K parameters, "
      f"{macs / 1e9:.2f}G multiply-adds\noutputs: {workdir}",
      flush=True,
    )
  return SRRetrainResult(workdir, genotype, state, test, n_params, macs, total)
