"""The report of a reproduction run: tables in the papers' layout, curves, alpha trajectories.

:func:`write_report` reads what the searches of :mod:`nasjax.reproduce` left in
their folders (``genotype.json``, ``metrics.jsonl``, ``alphas.npz``, the
selections' ``genotype.json``, ``wall_time.json``) and writes into the study's
folder:

* ``results.json``: every seed's genotype with its benchmark record, the mean
  and standard deviation over seeds of every column, per-epoch curves, wall times;
* ``results.md``: the table. NAS-Bench-201: one row per method, CIFAR-10 valid
  and test, CIFAR-100 valid and test, ImageNet16-120 valid and test (mean ±
  std over seeds, percent, 200-epoch training as the benchmark reports them),
  plus the number of ``skip_connect`` edges of the final cells, the final mean
  top op probability and the search wall time. The 200-epoch *valid*
  accuracies of CIFAR-100 and ImageNet16-120 are not in the benchmark table
  nasjax reads (``nb201.csv.gz`` holds their 12-epoch versions only), so
  those columns say so and a second table gives the 12-epoch values. DARTS
  space: each seed's genotype with its parameter count at the retraining size
  (``configs/retrain/cifar10.py``: C=36, 20 cells) and the command that
  retrains it;
* ``curves.png`` (NAS-Bench-201): the CIFAR-10 test accuracy of each epoch's
  argmax cell, mean over seeds with a min-max band, one line per method; and
  ``eigenvalue.png`` when the searches recorded the Hessian;
* ``alphas/<method>.png``: the op probabilities per edge over the epochs of the
  first seed of each method (:func:`nasjax.analysis.plots.plot_alphas`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from nasjax.analysis import plots
from nasjax.config.retrain import retrain_config
from nasjax.core.training import make_train_setup
from nasjax.infra.jsonfiles import atomic_write_text, write_json
from nasjax.infra.seeds import mean_std
from nasjax.spaces import flops
from nasjax.spaces.nb201.benchmark import load_table
from nasjax.spaces.registry import genotype_from_dict

#: NAS-Bench-201 columns of the table: (key, header, column of ``nb201.csv.gz`` or None).
NB201_COLUMNS = (
  ("cifar10_valid", "CIFAR-10 valid", "cifar10valid_valid_acc"),
  ("cifar10_test", "CIFAR-10 test", "cifar10_test_acc"),
  ("cifar100_valid", "CIFAR-100 valid", None),
  ("cifar100_test", "CIFAR-100 test", "cifar100_test_acc"),
  ("imagenet16_valid", "ImageNet16-120 valid", None),
  ("imagenet16_test", "ImageNet16-120 test", "imagenet16_test_acc"),
)
#: The benchmark's 12-epoch valid accuracies, its only CIFAR-100 / ImageNet16-120 valid columns.
NB201_12EP_COLUMNS = (
  ("cifar10_valid_12ep", "CIFAR-10 valid", "cifar10valid_valid_acc_12ep"),
  ("cifar100_valid_12ep", "CIFAR-100 valid", "cifar100_valid_acc_12ep"),
  ("imagenet16_valid_12ep", "ImageNet16-120 valid", "imagenet16_valid_acc_12ep"),
)
MISSING_NOTE = (
  "The NAS-Bench-201 table read here (nb201.csv.gz) holds no 200-epoch valid accuracy "
  "for CIFAR-100 and ImageNet16-120; their 12-epoch valid accuracies are in the second table."
)


def _read_json(path: Path) -> Any:
  return json.loads(path.read_text()) if path.exists() else None


def _seed_dirs(method_dir: Path, config: Any) -> list[tuple[int, Path]]:
  seeds = [config.seed + i for i in range(config.num_seeds)]
  if len(seeds) == 1:
    return [(seeds[0], method_dir)]
  return [(s, method_dir / f"seed_{s}") for s in seeds]


def _final_genotype(seed_dir: Path, selection: str) -> tuple[Any, str] | None:
  """The seed's architecture: the selection's genotype, or the search's own."""
  if selection != "argmax":
    record = _read_json(seed_dir / "select" / selection / "selection.json")
    if record and record.get("genotype"):
      return genotype_from_dict(record["genotype"]), selection
    return None
  record = _read_json(seed_dir / "genotype.json")
  if record is None:
    return None
  return genotype_from_dict(record.get("genotype", record)), "argmax"


def _alpha_stats(seed_dir: Path) -> dict[str, float]:
  """Final mean top op probability and the smallest top-2 margin over edges (``alphas.npz``)."""
  path = seed_dir / "alphas.npz"
  if not path.exists():
    return {}
  with np.load(path) as d:
    names = [k[: -len("_logits")] for k in d.files if k.endswith("_logits")]
    if not names or not len(d["epoch"]):
      return {}
    last = np.concatenate([d[n][-1].reshape(-1, d[n].shape[-1]) for n in names])
  margins = plots.top2_margin(last)
  return {
    "max_prob_mean": float(np.mean(np.max(last, axis=-1))),
    "top2_margin_min": float(np.min(margins)),
    "top2_margin_mean": float(np.mean(margins)),
  }


def _nb201_record(table: Any, genotype: Any) -> dict[str, float]:
  result = table.lookup(genotype)
  record = {"index": result.index, "params_M": result.params_M, "flops_M": result.flops_M}
  for key, _, column in NB201_COLUMNS + NB201_12EP_COLUMNS:
    if column is not None:
      record[key] = float(result.columns[column])
  return record


def _darts_record(genotype: Any, retrain_config: Any) -> dict[str, Any]:
  """Parameters of ``genotype``'s network at the retraining size (shapes only, no compute)."""
  model = make_train_setup(retrain_config, 1, genotype).model
  size = retrain_config.data.image_size
  image = jnp.zeros((1, size, size, 3))
  # The module's own init under eval_shape: nasjax's compiled init cannot be nested in a trace.
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), image, train=False))
  return {"params_M": flops.count_params(variables["params"]) / 1e6}


def collect_method(
  method: Any, config: Any, method_dir: Path, benchmark: str, table: Any, retrain_cfg: Any
) -> dict[str, Any]:
  """Everything the report shows of one method, from its folder."""
  seeds = []
  for seed, seed_dir in _seed_dirs(method_dir, config):
    found = _final_genotype(seed_dir, method.selection)
    record: dict[str, Any] = {"seed": seed, "folder": str(seed_dir)}
    if found is not None:
      genotype, source = found
      record.update(genotype=genotype.to_dict(), genotype_str=str(genotype), selection=source)
      if benchmark == "nb201":
        record["skip_edges"] = sum(op == "skip_connect" for op in genotype.edges)
        if table is not None:
          record.update(_nb201_record(table, genotype))
      elif retrain_cfg is not None:
        record.update(_darts_record(genotype, retrain_cfg))
    record.update(_alpha_stats(seed_dir))
    series = plots.epoch_series(seed_dir, ["nb201/cifar10_test", "hessian/max_eig"])
    record["curves"] = {k: [x.tolist(), y.tolist()] for k, (x, y) in series.items()}
    seeds.append(record)
  numeric = sorted(
    {
      k
      for r in seeds
      for k, v in r.items()
      if isinstance(v, (int, float)) and k not in ("seed", "index")
    }
  )
  summary = {}
  for key in numeric:
    values = [float(r[key]) for r in seeds if isinstance(r.get(key), (int, float))]
    if values and all(math.isfinite(v) for v in values):
      summary[key] = mean_std(values)
  return {
    "name": method.name,
    "label": method.label,
    "config": method.config,
    "selection": method.selection,
    "reference": method.reference,
    "finished": all("genotype" in r for r in seeds),
    "seeds": seeds,
    "summary": summary,
    "wall_time_s": _read_json(method_dir / "wall_time.json") or {},
  }


def _cell(summary: dict[str, Any], key: str, digits: int = 2) -> str:
  if key not in summary:
    return "—"
  s = summary[key]
  return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _wall(entry: dict[str, Any]) -> str:
  """Search wall time plus the method's own selection's (a shared search counts once)."""
  parts = ("search_s",) + ((f"{entry['selection']}_s",) if entry["selection"] != "argmax" else ())
  total = sum(entry["wall_time_s"].get(k, 0.0) for k in parts)
  return f"{total / 60:.1f} min" if total else "—"


def nb201_markdown(report: dict[str, Any]) -> str:
  """``results.md`` of a NAS-Bench-201 study."""
  n = report["seeds"]
  lines = [
    f"# NAS-Bench-201: {len(report['methods'])} methods, {n} seed{'s' * (n > 1)} each, "
    f"{report['scale']} scale",
    "",
    "Accuracies (%) of each seed's final cell after the benchmark's 200-epoch training, mean ± "
    "std over seeds. Skip edges: `skip_connect` edges of the 6 in the final cell. Top p: the "
    "final op probability of each edge's leading op, averaged over edges (0.2 = uniform). "
    "Wall time: search plus selection, on the machine that ran it.",
    "",
  ]
  headers = ["Method", *(h for _, h, _ in NB201_COLUMNS), "Skip edges", "Top p", "Wall time"]
  lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
  for m in report["methods"]:
    s = m["summary"]
    cells = [
      "n/a (not in the table)" if column is None else _cell(s, key)
      for key, _, column in NB201_COLUMNS
    ]
    label = m["label"] + ("" if m["finished"] else " (unfinished)")
    row = [label, *cells, _cell(s, "skip_edges", 1), _cell(s, "max_prob_mean", 3), _wall(m)]
    lines.append("| " + " | ".join(row) + " |")
  if report.get("optimal"):
    best = report["optimal"]
    row = ["optimal (table)"] + [
      f"{best[k]:.2f}" if k in best else "—" for k, _, _ in NB201_COLUMNS
    ]
    lines.append("| " + " | ".join(row + ["", "", ""]) + " |")
  lines += ["", MISSING_NOTE, "", "12-epoch valid accuracies (%):", ""]
  headers = ["Method", *(h for _, h, _ in NB201_12EP_COLUMNS)]
  lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
  for m in report["methods"]:
    row = [m["label"], *(_cell(m["summary"], k) for k, _, _ in NB201_12EP_COLUMNS)]
    lines.append("| " + " | ".join(row) + " |")
  lines += ["", "Cells per seed:", ""]
  for m in report["methods"]:
    for r in m["seeds"]:
      acc = f" — CIFAR-10 test {r['cifar10_test']:.2f}" if "cifar10_test" in r else ""
      lines.append(
        f"- {m['label']}, seed {r['seed']}: `{r.get('genotype_str', 'unfinished')}`{acc}"
      )
  return "\n".join(lines) + "\n"


def darts_markdown(report: dict[str, Any]) -> str:
  """``results.md`` of a DARTS-space study: genotypes, parameters, retraining commands."""
  lines = [
    f"# DARTS space: {len(report['methods'])} methods, {report['seeds']} seeds each, "
    f"{report['scale']} scale",
    "",
    "Parameters (M) of each genotype's network at the retraining size of "
    "`configs/retrain/cifar10.py` (C=36, 20 cells, auxiliary head excluded). Test errors need "
    "the retraining runs below (600 epochs each on CIFAR-10).",
    "",
    "| Method | Seed | Params (M) | Wall time | Retrain |",
    "|---|---|---|---|---|",
  ]
  for m in report["methods"]:
    for r in m["seeds"]:
      params = f"{r['params_M']:.2f}" if "params_M" in r else "—"
      command = r.get("retrain_command", "unfinished")
      lines.append(f"| {m['label']} | {r['seed']} | {params} | {_wall(m)} | `{command}` |")
  lines += ["", "Genotypes:", ""]
  for m in report["methods"]:
    for r in m["seeds"]:
      lines.append(f"- {m['label']}, seed {r['seed']}: `{r.get('genotype_str', 'unfinished')}`")
  return "\n".join(lines) + "\n"


def plot_curves(report: dict[str, Any], key: str, ylabel: str, title: str) -> Figure | None:
  """Per method, the mean over seeds of an epoch series with a min-max band."""
  fig = Figure(figsize=(8.0, 4.8))
  fig.set_layout_engine("constrained")
  ax = fig.subplots()
  drawn = 0
  for i, m in enumerate(report["methods"]):
    curves = [r["curves"][key] for r in m["seeds"] if key in r.get("curves", {})]
    if not curves:
      continue
    length = min(len(c[0]) for c in curves)
    epochs = np.asarray(curves[0][0][:length])
    values = np.stack([np.asarray(c[1][:length]) for c in curves])
    color = f"C{i % 10}"
    ax.plot(epochs, values.mean(0), color=color, lw=1.8, label=f"{m['label']} (n={len(curves)})")
    if len(curves) > 1:
      ax.fill_between(epochs, values.min(0), values.max(0), color=color, alpha=0.15, lw=0)
    drawn += 1
  if not drawn:
    return None
  ax.set_xlabel("epoch")
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.xaxis.get_major_locator().set_params(integer=True)
  ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
  return fig


def _retrain_command(seed_dir: Path, selection: str, method: str, seed: int) -> str:
  folder = seed_dir / "select" / selection if selection != "argmax" else seed_dir
  return (
    f"python -m nasjax.retrain --config=configs/retrain/cifar10.py "
    f"--genotype={folder / 'genotype.json'} --workdir=runs/retrain_{method}_seed{seed}"
  )


def write_report(
  workdir: Path,
  benchmark: str,
  scale: str,
  methods: Sequence[Any],
  configs: dict[str, Any],
) -> dict[str, Any]:
  """Writes ``results.json``, ``results.md`` and the figures; returns the JSON content."""
  table, retrain_cfg, optimal = None, None, None
  if benchmark == "nb201":
    config = next(iter(configs.values()))
    table = load_table(config.nb201_table)
    if table is not None:  # the best value of every column (each from its own cell)
      records = [_nb201_record(table, table.by_index(k).arch_str) for k in range(len(table))]
      optimal = {k: max(r[k] for r in records) for k, _, c in NB201_COLUMNS if c is not None}
  else:
    retrain_cfg = retrain_config()
  entries = []
  for method in methods:
    entry = collect_method(
      method, configs[method.name], workdir / method.folder, benchmark, table, retrain_cfg
    )
    if benchmark == "darts":
      for r in entry["seeds"]:
        r["retrain_command"] = _retrain_command(
          Path(r["folder"]), method.selection, method.name, r["seed"]
        )
    entries.append(entry)
  report = {
    "benchmark": benchmark,
    "scale": scale,
    "seeds": next(iter(configs.values())).num_seeds if configs else 0,
    "methods": entries,
    "optimal": optimal,
    "missing": [] if benchmark != "nb201" else [MISSING_NOTE],
    "nb201_table": None if table is None else str(table.source),
  }
  write_json(workdir / "results.json", report)
  markdown = nb201_markdown(report) if benchmark == "nb201" else darts_markdown(report)
  atomic_write_text(workdir / "results.md", markdown)
  figures = (
    ("curves.png", "nb201/cifar10_test", "CIFAR-10 test accuracy (%)", "argmax cell per epoch"),
    ("eigenvalue.png", "hessian/max_eig", r"$\lambda_{\max}$", "dominant Hessian eigenvalue"),
  )
  for filename, key, ylabel, what in figures:
    fig = plot_curves(report, key, ylabel, f"NAS-Bench-201: {what} (mean, min-max over seeds)")
    if fig is not None:
      fig.savefig(workdir / filename, dpi=120)
  alpha_dir = workdir / "alphas"
  for method, entry in zip(methods, entries, strict=True):
    if not entry["seeds"]:
      continue
    folder = Path(entry["seeds"][0]["folder"])
    found = plots.workdir_space(folder)
    loaded = plots.load_alphas(folder, found)
    if loaded is None:
      continue
    alpha_dir.mkdir(exist_ok=True)
    epochs, probs, op_names = loaded
    fig = plots.plot_alphas(epochs, probs, op_names, *plots.alpha_labels(found, probs, op_names))
    fig.suptitle(f"{entry['label']}, seed {entry['seeds'][0]['seed']}")
    fig.savefig(alpha_dir / f"{method.name}.png", dpi=110)
  return report
