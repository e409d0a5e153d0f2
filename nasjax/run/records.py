"""What a search writes about itself into its workdir.

* ``metrics.jsonl`` -- one JSON object per logging point and per epoch:
  ``{"step": ..., "epoch": ..., "kind": "train"|"epoch", <scalars>}``;
* ``tensorboard/`` -- the same scalars as TensorBoard event files;
* ``alphas.npz`` -- per epoch: ``epoch``, ``step``, the op probabilities of
  every alpha tensor (``<name>``), its logits (``<name>_logits``), the raw
  edge-normalisation logits where the search has them (``<name>_betas``;
  the supernet applies the per-node softmax to them) and the op names
  (``op_names``);
* ``genotypes.jsonl`` -- per epoch, the argmax genotype and, when the
  NAS-Bench-201 table is configured, its benchmark accuracies.

Only process 0 writes. When a run resumes from a checkpoint, records from
after that checkpoint (written before an interruption) are dropped first, so
the files read as if the run had never stopped. (TensorBoard event files
cannot be rewritten; TensorBoard shows the resumed values for such steps.)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasjax.infra.jsonfiles import truncate_jsonl


class MetricWriter:
  """Appends scalars to ``metrics.jsonl`` and TensorBoard event files."""

  def __init__(self, workdir: str | Path, enabled: bool = True):
    self.enabled = enabled
    self.path = Path(workdir) / "metrics.jsonl"
    self._tb = None
    if enabled:
      from tensorboardX import SummaryWriter

      self._tb = SummaryWriter(str(Path(workdir) / "tensorboard"))

  def truncate_after(self, step: int) -> None:
    """Drops records of steps after ``step`` (before resuming from it)."""
    if self.enabled:
      truncate_jsonl(self.path, lambda r: r.get("step", 0) <= step)

  def write(self, step: int, epoch: int, kind: str, scalars: Mapping[str, float]) -> None:
    if not self.enabled:
      return
    record = {
      "step": int(step),
      "epoch": int(epoch),
      "kind": kind,
      **{k: float(v) for k, v in scalars.items()},
    }
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    prefix = "" if kind == "train" else f"{kind}/"
    for name, value in scalars.items():
      self._tb.add_scalar(prefix + name, float(value), int(step))
    self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


class AlphaHistory:
  """``alphas.npz``: the architecture parameters at the end of every epoch."""

  def __init__(self, workdir: str | Path, op_names: tuple[str, ...], enabled: bool = True):
    self.enabled = enabled
    self.path = Path(workdir) / "alphas.npz"
    self.op_names = tuple(op_names)
    self.records: list[dict[str, Any]] = []
    if enabled and self.path.exists():
      with np.load(self.path) as d:
        names = [k[: -len("_logits")] for k in d.files if k.endswith("_logits")]
        beta_names = [k[: -len("_betas")] for k in d.files if k.endswith("_betas")]
        for i in range(len(d["epoch"])):
          self.records.append(
            {
              "epoch": int(d["epoch"][i]),
              "step": int(d["step"][i]),
              "probs": {n: d[n][i] for n in names},
              "logits": {n: d[f"{n}_logits"][i] for n in names},
              "betas": {n: d[f"{n}_betas"][i] for n in beta_names},
            }
          )

  def truncate_after(self, step: int) -> None:
    self.records = [r for r in self.records if r["step"] <= step]
    self._flush()

  def append(
    self,
    epoch: int,
    step: int,
    logits: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    betas: Mapping[str, np.ndarray] | None = None,
  ) -> None:
    """Records one epoch's alpha logits, op probabilities and raw edge logits (if any)."""
    self.records.append(
      {
        "epoch": epoch,
        "step": step,
        "probs": {k: np.asarray(v) for k, v in probs.items()},
        "logits": {k: np.asarray(v) for k, v in logits.items()},
        "betas": {k: np.asarray(v) for k, v in (betas or {}).items()},
      }
    )
    self._flush()

  def _flush(self) -> None:
    if not self.enabled:
      return
    if not self.records:
      self.path.unlink(missing_ok=True)
      return
    arrays: dict[str, np.ndarray] = {
      "epoch": np.array([r["epoch"] for r in self.records], np.int32),
      "step": np.array([r["step"] for r in self.records], np.int64),
      "op_names": np.array(self.op_names),
    }
    for name in self.records[0]["probs"]:
      arrays[name] = np.stack([r["probs"][name] for r in self.records])
      arrays[f"{name}_logits"] = np.stack([r["logits"][name] for r in self.records])
    for name in self.records[0]["betas"]:
      arrays[f"{name}_betas"] = np.stack([r["betas"][name] for r in self.records])
    tmp = self.path.with_name("alphas.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, self.path)


class GenotypeLog:
  """``genotypes.jsonl``: the genotype of every epoch, with benchmark accuracies.

  Any other per-epoch JSON-lines record with a ``step`` field (``hessian.jsonl``)
  is kept the same way: pass its ``filename``.
  """

  def __init__(self, workdir: str | Path, enabled: bool = True, filename: str = "genotypes.jsonl"):
    self.enabled = enabled
    self.path = Path(workdir) / filename

  def read(self) -> list[dict[str, Any]]:
    """The records written so far (lines cut short by a kill are skipped)."""
    if not self.path.exists():
      return []
    out = []
    for line in self.path.read_text().splitlines():
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:
        continue
    return out

  def truncate_after(self, step: int) -> None:
    if self.enabled:
      truncate_jsonl(self.path, lambda r: r.get("step", 0) <= step)

  def append(self, record: Mapping[str, Any]) -> None:
    if self.enabled:
      with open(self.path, "a") as f:
        f.write(json.dumps(dict(record)) + "\n")


class ProgressBar:
  """A tqdm bar with ETA on process 0 (a no-op elsewhere or when disabled)."""

  def __init__(self, enabled: bool, total: int, initial: int, desc: str = "search"):
    self.bar = None
    if enabled:
      from tqdm.auto import tqdm

      self.bar = tqdm(
        total=total,
        initial=initial,
        unit="step",
        dynamic_ncols=True,
        file=sys.stderr,
        desc=desc,
      )

  def update(self, n: int, **postfix: float) -> None:
    if self.bar is not None:
      self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
      self.bar.update(n)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.close()
