"""Resuming a run with a config that may have changed, and reading back an older one.

A run records its resolved config in its workdir; when it resumes, the
config of the command must compute what the recorded one computed
(:func:`config_changes`): fields that only change what is shown or kept
(:data:`RESUMABLE_CHANGES`) may differ, fields added since the run was
written count as the value that computes what the run computed
(:data:`ADDED_FIELDS`), and regulariser schedules are compared by their
per-epoch strengths. :func:`merge_defaults` reads a recorded config back
with the fields added since set to their defaults.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import ml_collections
import yaml

from nasjax.core.schedules import SCHEDULE_FIELDS, schedule_values

ConfigDict = ml_collections.ConfigDict


#: Config fields that may differ when a search resumes: they change what is
#: shown or kept, never what is computed.
RESUMABLE_CHANGES = (
  "progress_bar",
  "log_every_steps",
  "compilation_cache",
  "checkpoint.keep",
  "checkpoint.async_save",
  "nb201_table",
  "eval",
  "allow_resume_with_changes",
  # measurements that do not change the search (early stopping does)
  "analysis.hessian_every",
  "analysis.hessian_method",
  "analysis.hessian_iters",
  "analysis.hessian_batches",
  "analysis.discretization_every",
  "analysis.recalibration_batches",
  "analysis.eval_limit",
  "data.workers",  # decoding threads of a retrain's ImageNet pipeline
  "steps_per_call",  # the same steps, fused differently
  "distributed",  # where the processes run, not what they compute
)

#: Fields added to the search config after runs were written without them, with the
#: value that computes what those runs computed: a saved config that lacks one
#: resumes as if it held this value.
ADDED_FIELDS = {
  "step_order": "alpha_first",
  "bn_stats_update": "weight_step",
  "optimizer.weights.grad_clip_scope": "weights",
  "space.conv_bias": False,
  "data.downsample": 1,
}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
  return out


def _resolved_regularizers(config: dict[str, Any]) -> dict[str, Any]:
  """``config`` with each regulariser's schedule fields replaced by its per-epoch strengths.

  The schedule is compared by what it computes (:func:`nasjax.core.schedules.schedule_values`
  over the config's epochs), so ``linear`` to 10 over 50 epochs and ``slope=0.2`` are
  the same; a regulariser that is off in a config keeps only ``enabled``.
  """
  regs = config.get("regularizers")
  epochs = config.get("epochs")
  if not isinstance(regs, dict) or not isinstance(epochs, int):
    return config
  out = {}
  for name, reg in regs.items():
    if not isinstance(reg, dict) or not reg.get("enabled", True):
      out[name] = {"enabled": False} if isinstance(reg, dict) else reg
      continue
    kept = {k: v for k, v in reg.items() if k not in SCHEDULE_FIELDS}
    try:
      lambdas = [round(v, 12) for v in schedule_values(reg, epochs)]
    except (TypeError, ValueError, ZeroDivisionError):  # not a valid schedule: compare the fields
      lambdas = {k: reg.get(k) for k in SCHEDULE_FIELDS}
    out[name] = {**kept, "lambda_per_epoch": lambdas}
  return {**config, "regularizers": out}


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, Any, Any]]:
  """The fields that differ between two configs (as nested dicts), except :data:`RESUMABLE_CHANGES`.

  A field of :data:`ADDED_FIELDS` that ``saved`` lacks counts as its listed
  value (the behaviour of runs written before it existed), a regulariser
  registered since counts as off, and regulariser schedules are compared by
  their per-epoch strengths, so a run written with SA's ``linear`` strength
  ``epochs / 5`` resumes under ``slope=0.2``.

  Returns:
    ``(dotted field, saved value, current value)`` for each change, sorted by field.
  """
  old = _flatten(_resolved_regularizers(saved))
  new = _flatten(_resolved_regularizers(current))
  for field, value in ADDED_FIELDS.items():
    if field in new and field not in old:
      old[field] = value
  for field in new:  # a regulariser registered since the run was written: off in it
    parts = field.split(".")
    is_switch = len(parts) == 3 and parts[0] == "regularizers" and parts[2] == "enabled"
    if is_switch and not any(k.startswith(f"regularizers.{parts[1]}.") for k in old):
      old[field] = False
  return [
    (k, old.get(k), new.get(k))
    for k in sorted(set(old) | set(new))
    if old.get(k) != new.get(k)
    and not any(k == f or k.startswith(f + ".") for f in RESUMABLE_CHANGES)
  ]


def merge_defaults(defaults: ConfigDict, saved: dict[str, Any]) -> ConfigDict:
  """``saved`` (a resolved config) with fields added since it was written set to their defaults."""
  out = copy.deepcopy(defaults)
  for key, value in saved.items():
    if isinstance(value, dict) and key in out and key not in ("space", "relaxation"):
      out[key] = (
        merge_defaults(out[key], value) if isinstance(out[key], ConfigDict) else ConfigDict(value)
      )
    elif key in out:
      out[key] = ConfigDict(value) if isinstance(value, dict) else value
    else:
      with out.unlocked():
        out[key] = ConfigDict(value) if isinstance(value, dict) else value
  return out


def plain_values(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The config's values as plain JSON types (what ``config.json`` records)."""
  return json.loads(config.to_json_best_effort())


def values_yaml(values: dict[str, Any]) -> str:
  """Plain values as YAML in field order, which ``yaml.safe_load`` reads back."""
  return yaml.safe_dump(values, sort_keys=False)
