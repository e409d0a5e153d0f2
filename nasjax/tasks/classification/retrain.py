"""Retrain a derived DARTS network from scratch, from the command line or a notebook.

Its command line is ``python -m nasjax.retrain`` (:mod:`nasjax.retrain`).

``--genotype`` is a genotype file (a search's ``genotype.json``, a genotype
JSON, or a text file with DARTS' ``Genotype(...)`` string) or the name of a
published genotype: ``DARTS_V1``, ``DARTS_V2``, ``PC_DARTS``. Re-running the
same command with the same ``--workdir`` resumes from the latest checkpoint;
a changed config or a different genotype is refused. From a notebook,
``nasjax.retrain.run(config, genotype, workdir)`` does the same and returns a
:class:`RetrainResult`.

The workdir receives ``config.yaml`` / ``config.json``, ``genotype.json``
(the architecture), ``checkpoints/``, ``metrics.jsonl`` and ``tensorboard/``
(train loss, accuracy, lr and drop-path rate per logging point; test loss,
top-1 and top-5 per evaluated epoch) and, at the end, ``final.json`` (test
top-1 / top-5, parameters, multiply-adds, epochs, time).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections

from nasjax.config.retrain import validate_retrain_config
from nasjax.core.training import TrainState, make_train_setup
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.infra.compilation import enable_compilation_cache
from nasjax.infra.jsonfiles import write_json
from nasjax.run import safety as runs
from nasjax.run.retrain import open_workdir, resume_and_train
from nasjax.spaces import flops
from nasjax.spaces.darts.genotype import NAMED_GENOTYPES, DartsGenotype
from nasjax.spaces.genotype import GenotypeError
from nasjax.spaces.registry import load_genotype
from nasjax.tasks.classification import imagenet
from nasjax.tasks.classification.data import TrainData
from nasjax.tasks.classification.datasets import load_dataset


@dataclasses.dataclass
class RetrainResult:
  """What a finished retrain returns (everything but ``state`` is also in its workdir).

  Attributes:
    workdir: where the outputs are.
    genotype: the architecture trained.
    state: the final train state (weights, BN statistics, optimiser state).
    test: the final test metrics: ``loss``, ``top1``, ``top5`` (fractions).
    params: the parameter count without the auxiliary head.
    multiply_adds: multiply-adds of one forward pass at the training resolution.
    step: the number of training steps run in total.
    last_epoch: the last epoch's summary metrics.
  """

  workdir: Path
  genotype: DartsGenotype
  state: TrainState
  test: dict[str, float]
  params: int
  multiply_adds: int
  step: int
  last_epoch: dict[str, float]


def resolve_genotype(spec: DartsGenotype | str | os.PathLike) -> DartsGenotype:
  """The DARTS genotype ``spec`` names: a genotype, a published name, or a file.

  Raises:
    GenotypeError / DataNotFoundError: for a file that is missing or holds no
      DARTS genotype.
  """
  if isinstance(spec, DartsGenotype):
    return spec
  if str(spec) in NAMED_GENOTYPES:
    return NAMED_GENOTYPES[str(spec)]
  path = Path(os.path.expanduser(str(spec)))
  if not path.is_file():
    raise DataNotFoundError(
      f"genotype {str(spec)!r} is neither a file nor a published genotype; pass the path of a "
      f"genotype file (e.g. a search's genotype.json) or one of {sorted(NAMED_GENOTYPES)}"
    )
  genotype = load_genotype(path)
  if not isinstance(genotype, DartsGenotype):
    raise GenotypeError(
      f"{path} holds a {genotype.space!r} genotype, but retraining builds DARTS-space networks; "
      f"pass a DARTS genotype"
    )
  return genotype


def load_data(config: ml_collections.ConfigDict) -> Any:
  """The training data of ``config``: :class:`TrainData` or ImageNet's."""
  d, index, count = config.data, jax.process_index(), jax.process_count()
  if d.name == imagenet.TFDS_NAME:
    return imagenet.ImageNetData.from_config(d, config.seed, config.batch_size, index, count)
  dataset = load_dataset(d)
  if dataset.num_classes != config.network.num_classes:
    raise ConfigError(
      f"config.network.num_classes={config.network.num_classes} but the dataset has "
      f"{dataset.num_classes} classes; set --config.network.num_classes={dataset.num_classes}"
    )
  if dataset.x_train.shape[1:3] != (d.image_size, d.image_size):
    raise ConfigError(
      f"config.data.image_size={d.image_size} but the images are "
      f"{dataset.x_train.shape[1]}x{dataset.x_train.shape[2]}; set it to their size"
    )
  return TrainData(dataset, d, config.seed, config.batch_size, index, count)


def run(
  config: ml_collections.ConfigDict,
  genotype: DartsGenotype | str | os.PathLike,
  workdir: str | os.PathLike,
) -> RetrainResult:
  """Trains (or resumes training) ``genotype``'s network as ``config`` describes.

  Args:
    config: a retrain config (:func:`nasjax.config.retrain.retrain_config`
      or a file in ``configs/retrain/``).
    genotype: a :class:`DartsGenotype`, a genotype file, or
      a published genotype's name (see :data:`NAMED_GENOTYPES`).
    workdir: the output folder; if it holds checkpoints of this run, training
      continues from the latest one.

  Returns:
    The final state, test accuracy and network cost (also written to ``workdir``).

  Raises:
    NasjaxError: for a bad config or genotype, missing data, an unusable
      checkpoint, or a diverged run, with a message naming the fix.
  """
  t_start = time.perf_counter()
  validate_retrain_config(config)
  genotype = resolve_genotype(genotype)
  workdir = Path(workdir).absolute()
  is_main = jax.process_index() == 0
  enable_compilation_cache(config.compilation_cache or None)

  data = load_data(config)
  spe = data.steps_per_epoch
  total = config.epochs * spe
  setup = make_train_setup(config, spe, genotype)

  opened = open_workdir(workdir, config, genotype, is_main)

  size = config.data.image_size
  state = setup.init(jax.random.key(config.seed), (size, size, 3))
  n_params = flops.count_params(state.params)
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  macs = flops.multiply_adds(setup.model, variables, (size, size, 3), train=False)
  runs.say(
    is_main,
    f"network: {n_params / 1e6:.3f}M parameters (without the auxiliary head), "
    f"{macs / 1e6:.1f}M multiply-adds at {size}x{size}",
  )
  state, last_epoch, test, elapsed = resume_and_train(config, setup, state, data, opened, t_start)
  test = {k: test[k] for k in ("loss", "top1", "top5")}
  result = RetrainResult(workdir, genotype, state, test, n_params, macs, total, last_epoch)
  if is_main:
    write_json(
      workdir / "final.json",
      {
        "test_top1": test["top1"],
        "test_top5": test["top5"],
        "test_loss": test["loss"],
        "params": n_params,
        "params_M": n_params / 1e6,
        "multiply_adds": macs,
        "multiply_adds_M": macs / 1e6,
        "image_size": size,
        "epochs": config.epochs,
        "steps": total,
        "time_s": elapsed(),
        "genotype": genotype.to_dict(),
      },
    )
    print(
      f"retrain finished: {total} steps, {config.epochs} epochs, {elapsed():.1f} s\n"
      f"test top-1 {100 * test['top1']:.2f}%, top-5 {100 * test['top5']:.2f}% "
      f"(error {100 * (1 - test['top1']):.2f}%); {n_params / 1e6:.3f}M parameters, "
      f"{macs / 1e6:.1f}M multiply-adds\noutputs: {workdir}",
      flush=True,
    )
  return result
