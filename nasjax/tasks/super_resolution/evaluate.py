"""Evaluate super-resolution networks on test sets: the PSNR / SSIM table of SR papers.

Its command line is ``python -m nasjax.evaluate_sr`` (:mod:`nasjax.evaluate_sr`).

``--workdir`` names one or more (comma-separated) runs that saved an SR
network: an ``nasjax.sr_retrain`` workdir, a single-stage selection
(``SEARCH/select/single_stage``), or a ``network/`` folder itself. Each is a
row of the table. ``--sets`` names folders of HR PNGs (Set5, Set14, B100,
Urban100, ...); each HR image is cropped to a multiple of the network's scale
and downsampled with MATLAB's bicubic kernel
(:func:`nasjax.tasks.super_resolution.imresize.downsample`) to make its LR
input. The whole image goes through the network (one compile per image
size); the output is clipped to [0, 1] and quantised to 8 bits, and
PSNR and SSIM are measured on the Y channel (ITU-R BT.601) with ``scale``
pixels cut from each border (:mod:`nasjax.tasks.super_resolution.metrics`).

The table has, per network: the scale, parameters, multiply-adds at a
1280x720 output, and PSNR / SSIM per set (the mean over its images), as the
SA-DARTS paper's super-resolution table. It is written to
``<output>/sr_table.json`` (with per-image figures) and ``sr_table.md``;
``--output`` defaults to ``evaluation/`` in the first workdir.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from nasjax.errors import NasjaxError
from nasjax.infra.jsonfiles import atomic_write_text, write_json
from nasjax.spaces.saved import SingleStageNetwork, find_network, load_network, run_name
from nasjax.tasks.super_resolution import images as sr_images
from nasjax.tasks.super_resolution import metrics as sr_metrics
from nasjax.tasks.super_resolution.retrain import COST_OUTPUT, cost_shape


def network_scale(net: SingleStageNetwork) -> int:
  """The upscaling factor of a saved SR network (its space config's ``scale``)."""
  scale = net.space_config.get("scale")
  if scale is None:
    raise NasjaxError(
      f"the network of space {net.space_config.name!r} is not a super-resolution network"
    )
  return int(scale)


def network_cost(net: SingleStageNetwork) -> tuple[int, int]:
  """Parameters and multiply-adds at a 1280x720 output of a saved network."""
  return net.cost(cost_shape(network_scale(net)))


def super_resolve(net: SingleStageNetwork, lr: np.ndarray) -> np.ndarray:
  """The network's uint8 HR output for one uint8 LR image (HxWx3)."""
  x = np.asarray(lr, np.float32)[None] / 255.0
  out = np.asarray(jax.device_get(net(x)))[0]
  return sr_metrics.to_uint8(np.clip(out, 0.0, 1.0))


def evaluate_set(net: SingleStageNetwork, images: sr_images.SRImages) -> dict[str, Any]:
  """Per-image and mean PSNR / SSIM (Y channel, ``scale`` border) of one test set."""
  scale = images.scale
  per_image = []
  for name, lr, hr in zip(images.names, images.lr, images.hr, strict=True):
    sr = super_resolve(net, lr)
    per_image.append(
      {
        "image": name,
        "psnr": sr_metrics.psnr(sr, hr, border=scale),
        "ssim": sr_metrics.ssim(sr, hr, border=scale),
      }
    )
  mean_psnr, identical = sr_metrics.mean_psnr([r["psnr"] for r in per_image])
  return {
    "psnr": mean_psnr,
    "ssim": float(np.mean([r["ssim"] for r in per_image])),
    "images": len(per_image),
    "identical": identical,
    "per_image": per_image,
  }


@dataclasses.dataclass
class SRTable:
  """The evaluation of several networks on several test sets (also written as JSON / Markdown)."""

  rows: list[dict[str, Any]]
  sets: list[str]
  folder: Path | None = None  # where sr_table.json / sr_table.md were written

  def markdown(self) -> str:
    """The table as Markdown, one row per network, PSNR / SSIM per set."""
    head = ["Network", "Scale", "Params (K)", "Multi-Adds (G)"] + [
      f"{s} PSNR/SSIM" for s in self.sets
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in self.rows:
      cells = [
        r["name"],
        f"x{r['scale']}",
        f"{r['params'] / 1e3:.0f}",
        f"{r['multiply_adds'] / 1e9:.1f}",
      ]
      cells += [f"{r['sets'][s]['psnr']:.2f} / {r['sets'][s]['ssim']:.4f}" for s in self.sets]
      lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _row_name(path: Path, net: SingleStageNetwork) -> str:
  kind = str(net.genotype) if net.genotype is not None else "single-stage supernet"
  return f"{run_name(path)} ({kind})"


def evaluate_networks(
  workdirs: list[str], sets: list[str], output: str | os.PathLike | None = None
) -> SRTable:
  """Evaluates the networks of ``workdirs`` on the HR folders ``sets``; writes the table.

  Args:
    workdirs: runs that saved an SR network (see :func:`find_network`).
    sets: folders of HR PNG images; ``$VAR`` expands.
    output: where ``sr_table.json`` and ``sr_table.md`` go (default
      ``<first workdir>/evaluation``).

  Returns:
    The table.

  Raises:
    NasjaxError: for a missing network or test set, with the fix.
  """
  if not workdirs or not sets:
    raise NasjaxError("pass at least one --workdir and one --sets folder")
  rows = []
  set_names: list[str] = []
  for workdir in workdirs:
    path = find_network(workdir)
    net = load_network(path)
    scale = network_scale(net)
    test_sets = sr_images.load_test_sets(sets, scale)
    set_names = list(test_sets)
    params, macs = network_cost(net)
    t0 = time.perf_counter()
    results = {name: evaluate_set(net, images) for name, images in test_sets.items()}
    rows.append(
      {
        "name": _row_name(path, net),
        "network": str(path),
        "genotype": None if net.genotype is None else net.genotype.to_dict(),
        "scale": scale,
        "params": params,
        "multiply_adds": macs,
        "cost_output": list(COST_OUTPUT),
        "sets": results,
        "time_s": time.perf_counter() - t0,
      }
    )
  out = Path(output) if output else find_network(workdirs[0]).parent / "evaluation"
  table = SRTable(rows, set_names, out)
  if jax.process_index() == 0:
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sr_table.json", {"sets": set_names, "rows": rows})
    atomic_write_text(out / "sr_table.md", table.markdown())
  return table
