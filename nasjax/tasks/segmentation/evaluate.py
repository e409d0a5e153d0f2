"""Evaluate segmentation networks: mIoU, per-class IoU, pixel accuracy and cost.

Its command line is ``python -m nasjax.evaluate_seg`` (:mod:`nasjax.evaluate_seg`).

``--workdir`` names one or more (comma-separated) runs that saved a
segmentation network: a single-stage selection (``SEARCH/select/single_stage``,
or the search workdir holding it), an ``nasjax.seg_retrain`` workdir, or a
``network/`` folder inside one of them. Each is a row of the table. The test
data is the run's own (``config.data`` of the ``config.json`` beside the
network): its ``test_list`` images (CamVid's ``val.txt`` by default; pass
``--test_list=test.txt`` for CamVid's test split) or Cityscapes' validation
set; ``--eval_mode``, ``--eval_scale`` and ``--test_limit`` override the
run's settings.

Every test image goes through the network whole (``eval_mode='whole'``) or
in overlapping windows of ``eval_crop`` pixels with stride ``eval_stride``
whose logits are averaged (``'sliding'``). One confusion matrix is
accumulated over the set, with the ignore label (255) left out; from it come
the mIoU over the classes that occur, the per-class IoU and the pixel
accuracy (:mod:`nasjax.tasks.segmentation.metrics`). The table also gives parameters and
multiply-adds at a 1024x2048 input (a Cityscapes frame). It is written to
``<output>/seg_table.json`` (with per-class IoU) and ``seg_table.md``;
``--output`` defaults to ``evaluation/`` beside the first network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from nasjax.errors import ConfigError, NasjaxError
from nasjax.infra.checkpoint import CheckpointError
from nasjax.infra.jsonfiles import atomic_write_text, write_json
from nasjax.spaces.saved import SingleStageNetwork, find_network, load_network, run_name
from nasjax.tasks.segmentation import data as seg_data
from nasjax.tasks.segmentation import metrics as seg_metrics

#: The ``config.data`` fields the command line may override.
OVERRIDES = ("test_list", "eval_mode", "eval_scale", "test_limit")


#: The input size (H, W, 3) segmentation networks are costed at (Cityscapes' full frames).
COST_SHAPE = (1024, 2048, 3)


def network_cost(net: SingleStageNetwork) -> tuple[int, int]:
  """Parameters and multiply-adds of ``net`` on a 1024x2048 input."""
  return net.cost(COST_SHAPE)


def evaluate_on(
  net: SingleStageNetwork, data_config: ml_collections.ConfigDict, data: Any = None
) -> dict[str, Any]:
  """Scores ``net`` on the test images of ``data_config`` (or of the batches object ``data``).

  Args:
    net: a loaded network (:func:`nasjax.load_network`).
    data_config: ``config.data`` (:func:`nasjax.tasks.segmentation.data.seg_data_config`):
      the test images and ``eval_mode`` / ``eval_crop`` / ``eval_stride``.
    data: a :class:`~nasjax.tasks.segmentation.data.SegSearchData` or
      :class:`~nasjax.tasks.segmentation.data.SegTrainData` already holding the test images.

  Returns:
    :func:`nasjax.tasks.segmentation.metrics.segmentation_scores` of the whole test set,
    plus ``images``, how many there were.
  """
  if data is None:
    train, test = seg_data.load_seg_dataset(data_config)
    data = seg_data.SegTrainData(train, data_config, 0, 1, test=test)
  images, labels = data.test_set()
  scores = seg_metrics.evaluate_segmentation(
    net,
    images,
    labels,
    data_config.num_classes,
    mode=data_config.eval_mode,
    crop=data_config.eval_crop,
    stride=data_config.eval_stride,
  )
  return {**scores, "images": len(images)}


def network_scores(
  net: SingleStageNetwork, data_config: ml_collections.ConfigDict, data: Any = None
) -> dict[str, Any]:
  """The segmentation task's scores of a finished network on whole test images.

  ``test_miou``, ``test_pixel_acc_whole`` and the per-class ``test_iou`` of
  :func:`evaluate_on` (the single-stage read-out's ``final.json``).
  """
  scores = evaluate_on(net, data_config, data)
  return {
    "test_miou": scores["miou"],
    "test_pixel_acc_whole": scores["pixel_acc"],
    "test_iou": scores["iou"],
  }


def run_config(network_path: Path) -> ml_collections.ConfigDict:
  """The config of the run that saved the network at ``network_path`` (its ``config.json``).

  Raises:
    CheckpointError: if the run's config cannot be found.
  """
  for folder in (network_path.parent, network_path.parent.parent):
    path = folder / "config.json"
    if path.is_file():
      return ml_collections.ConfigDict(json.loads(path.read_text()))
  raise CheckpointError(
    f"no config.json beside {network_path}; evaluate the network inside its run's workdir"
  )


@dataclasses.dataclass
class SegTable:
  """The evaluation table: one row per network."""

  rows: list[dict[str, Any]]
  folder: Path | None = None  # where seg_table.json / seg_table.md were written

  def markdown(self) -> str:
    """The table in Markdown, as printed."""
    lines = [
      "| Network | Params (M) | Multi-Adds @1024x2048 (G) | mIoU (%) | Pixel acc (%) | Images |",
      "|---|---|---|---|---|---|",
    ]
    for r in self.rows:
      name = r["name"].replace("|", "\\|")  # a genotype string's separators
      lines.append(
        f"| {name} | {r['params'] / 1e6:.3f} | {r['multiply_adds'] / 1e9:.1f} | "
        f"{100 * r['miou']:.2f} | {100 * r['pixel_acc']:.2f} | {r['images']} |"
      )
    return "\n".join(lines) + "\n"


def _row_name(path: Path, net: SingleStageNetwork) -> str:
  kind = f"two-stage {net.genotype}" if net.genotype is not None else "single-stage"
  return f"{run_name(path)} ({kind})"


def evaluate_networks(
  workdirs: list[str],
  output: str | os.PathLike | None = None,
  overrides: dict[str, Any] | None = None,
) -> SegTable:
  """Evaluates the networks of ``workdirs`` on their runs' test images; writes the table.

  Args:
    workdirs: runs that saved a segmentation network (see :func:`nasjax.spaces.saved.find_network`).
    output: where ``seg_table.json`` and ``seg_table.md`` go (default
      ``evaluation/`` beside the first network).
    overrides: ``config.data`` fields to change (:data:`OVERRIDES`).

  Raises:
    NasjaxError: for a missing network, config or data, with the fix.
  """
  if not workdirs:
    raise NasjaxError("pass at least one --workdir")
  rows = []
  for workdir in workdirs:
    path = find_network(workdir)
    net = load_network(path)
    if net.space_config.name != "trellis":
      raise ConfigError(
        f"{path} holds a network of space {net.space_config.name!r}, not a segmentation network"
      )
    data_config = run_config(path).data
    with data_config.unlocked():
      data_config.update({k: v for k, v in (overrides or {}).items() if v is not None})
    seg_data.validate_seg_data(data_config)
    params, macs = network_cost(net)
    t0 = time.perf_counter()
    scores = evaluate_on(net, data_config)
    rows.append(
      {
        "name": _row_name(path, net),
        "network": str(path),
        "genotype": None if net.genotype is None else net.genotype.to_dict(),
        "params": params,
        "multiply_adds": macs,
        "cost_shape": list(COST_SHAPE),
        "dataset": data_config.name,
        "test_list": data_config.get("test_list", ""),
        "eval_mode": data_config.eval_mode,
        "images": int(scores.get("images", 0)),
        **{k: _plain(v) for k, v in scores.items() if k != "images"},
        "time_s": time.perf_counter() - t0,
      }
    )
  out = Path(output) if output else find_network(workdirs[0]).parent / "evaluation"
  table = SegTable(rows, out)
  if jax.process_index() == 0:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "seg_table.json", {"rows": rows})
    atomic_write_text(out / "seg_table.md", table.markdown())
  return table


def _plain(value: Any) -> Any:
  """JSON-friendly figures (NaN IoU of absent classes become None)."""
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_plain(v) for v in np.asarray(value).tolist()]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value
