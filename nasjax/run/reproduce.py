"""One command for a results table: run each method's seeds, select, and tabulate.

Its command line is ``python -m nasjax.reproduce`` (:mod:`nasjax.reproduce`).

For every method it runs (or resumes) one search with ``config.num_seeds`` seeds
as one program (``WORKDIR/<method>/``), then the method's selection on each seed
(perturbation-based selection for the ``*_pt`` methods,
``WORKDIR/<method>/seed_<s>/select/pt/``; DARTS+PT reads out the search of
``darts_1st``, in that method's folder), and finally writes the report
(:mod:`nasjax.run.report`): ``results.md`` and ``results.json`` in the papers'
layout, ``curves.png`` and the alpha trajectories of one seed per method.
Re-running the same command resumes where it stopped: finished searches and
selections are not run again, an interrupted one continues from its latest
checkpoint. ``--report_only`` rewrites the report from what is on disk.

Scales (``--scale``):

* ``paper``: each method's config file as published (``configs/<space>/<method>.py``).
* ``cpu`` (NAS-Bench-201): the reduced protocol of ``configs/nb201/cpu_scale.py``,
  where DARTS' failure shows within about half an hour per method on a 2-core CPU.
* ``runlocal``: the config files' ``runlocal`` variants (a minute or two per
  method; for checking the pipeline, not the methods).

``--set=field=value`` (repeatable) overrides a field of every method's search
config, e.g. ``--set=optimizer.alpha.init_bias=0.1`` for the skip-biased start;
``--select_set`` does the same for the selection config.

From a notebook::

  from nasjax import reproduce
  report = reproduce.run('nb201', ['darts_1st', 'sa_darts'], seeds=3, scale='cpu',
                         workdir='runs/nb201_cpu')
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ml_collections
import yaml

from nasjax.config.select import select_config
from nasjax.errors import ConfigError
from nasjax.infra.jsonfiles import write_json
from nasjax.run import report as results
from nasjax.run import search, select

ConfigDict = ml_collections.ConfigDict

#: The scales a benchmark can be run at.
SCALES = ("paper", "cpu", "runlocal")

#: The folder of the repository's config files (``--configs_dir`` overrides it).
DEFAULT_CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


@dataclasses.dataclass(frozen=True)
class Method:
  """One row of a results table: a search config and how its architecture is read out.

  Attributes:
    name: the ``--methods`` name and the method's folder in the workdir.
    label: the row label of the table.
    config: the search config file, relative to the configs folder.
    variant: config-file variants always passed (e.g. ``fd``), before the scale's.
    selection: ``argmax`` (the search's own genotype) or ``pt`` (perturbation-based
      selection on each seed's supernet).
    reference: the source of the method.
    search: the method whose search this one reads out (its folder is shared,
      so DARTS and DARTS+PT run one search); empty = its own search.
  """

  name: str
  label: str
  config: str
  variant: str = ""
  selection: str = "argmax"
  reference: str = ""
  search: str = ""

  @property
  def folder(self) -> str:
    """The folder of its search in the study's workdir."""
    return self.search or self.name


#: The methods of each benchmark, in table order.
BENCHMARKS: dict[str, tuple[Method, ...]] = {
  "nb201": (
    Method("darts_1st", "DARTS (1st)", "nb201/darts_1st.py", reference="arXiv 1806.09055"),
    Method("darts_2nd", "DARTS (2nd, exact)", "nb201/darts_2nd.py", reference="arXiv 1806.09055"),
    Method("sa_darts", "SA-DARTS (Eq. 8)", "nb201/sa_darts.py", reference="arXiv 2504.16306"),
    Method(
      "sa_darts_smu",
      "SA-DARTS (Eq. 7, a=0.25, mu=1e6)",
      "nb201/sa_darts_smu.py",
      reference="arXiv 2504.16306",
    ),
    Method("beta_darts", "Beta-DARTS", "nb201/beta_darts.py", reference="arXiv 2203.01665"),
    Method("pc_darts", "PC-DARTS", "nb201/pc_darts.py", reference="arXiv 1907.05737"),
    Method("drnas", "DrNAS", "nb201/drnas.py", reference="arXiv 2006.10355"),
    Method("entropy", "DARTS + entropy", "nb201/entropy.py", reference="arXiv 2405.16610"),
    Method(
      "darts_pt",
      "DARTS+PT",
      "nb201/darts_1st.py",
      selection="pt",
      reference="arXiv 2108.04392",
      search="darts_1st",
    ),
    Method(
      "darts_pt_fix_alpha",
      "DARTS+PT (fix alpha)",
      "nb201/darts_pt_fix_alpha.py",
      selection="pt",
      reference="arXiv 2108.04392",
    ),
  ),
  "darts": (
    Method("darts_1st", "DARTS (1st)", "darts/darts_1st.py", reference="arXiv 1806.09055"),
    Method("darts_2nd", "DARTS (2nd, exact)", "darts/darts_2nd.py", reference="arXiv 1806.09055"),
    Method("sa_darts", "SA-DARTS", "darts/sa_darts.py", reference="arXiv 2504.16306"),
    Method("sac_darts", "SAC-DARTS", "darts/sac_darts.py", reference="arXiv 2504.16306"),
    Method("beta_darts", "Beta-DARTS", "darts/beta_darts.py", reference="arXiv 2203.01665"),
    Method("pc_darts", "PC-DARTS", "darts/pc_darts.py", reference="arXiv 1907.05737"),
    Method("drnas", "DrNAS", "darts/drnas.py", reference="arXiv 2006.10355"),
    Method("snas", "SNAS", "darts/snas.py", reference="arXiv 1812.09926"),
    Method(
      "darts_pt",
      "DARTS+PT",
      "darts/darts_1st.py",
      selection="pt",
      reference="arXiv 2108.04392",
      search="darts_1st",
    ),
    Method(
      "darts_pt_fix_alpha",
      "DARTS+PT (fix alpha)",
      "darts/darts_pt_fix_alpha.py",
      selection="pt",
      reference="arXiv 2108.04392",
    ),
  ),
}

#: The config file of each benchmark's CPU-scale protocol (takes the method as its argument).
CPU_SCALE_CONFIGS = {"nb201": "nb201/cpu_scale.py"}

#: Selection settings per scale (``--select_set`` overrides them); the rest are
#: :func:`nasjax.select.select_config`'s defaults.
SELECT_SCALE = {
  "paper": {},
  "cpu": {},
  "runlocal": {"pt.proj_interval": 1, "val_limit": 256, "eval.limit": 256},
}

WALL_TIME_FILE = "wall_time.json"


def methods_of(benchmark: str, names: Sequence[str] | str) -> list[Method]:
  """The methods ``names`` (or ``'all'``) of ``benchmark``, in table order.

  Raises:
    ConfigError: for an unknown benchmark or method.
  """
  if benchmark not in BENCHMARKS:
    raise ConfigError(f"unknown benchmark {benchmark!r}; choose one of {sorted(BENCHMARKS)}")
  known = {m.name: m for m in BENCHMARKS[benchmark]}
  if isinstance(names, str):
    names = [n.strip() for n in names.split(",") if n.strip()]
  if not names:
    raise ConfigError(f"give at least one method with --methods, from {list(known)} (or 'all')")
  if list(names) == ["all"]:
    return list(known.values())
  unknown = [n for n in names if n not in known]
  if unknown:
    raise ConfigError(f"unknown {benchmark} method(s) {unknown}; choose from {list(known)}")
  chosen = set(names)
  return [m for m in BENCHMARKS[benchmark] if m.name in chosen]


def load_config_file(path: Path, arg: str = "") -> ConfigDict:
  """``get_config(arg)`` of a config file (as ``--config=path:arg`` would load it).

  Raises:
    ConfigError: when the file is missing or has no ``get_config``.
  """
  if not path.is_file():
    raise ConfigError(
      f"config file {path} not found; run from a nasjax checkout or pass --configs_dir"
    )
  spec = importlib.util.spec_from_file_location(f"nasjax_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path} defines no get_config(arg)")
  return module.get_config(arg) if arg else module.get_config()


def _parse_value(text: str) -> Any:
  value = yaml.safe_load(text)
  return text if value is None and text.lower() not in ("null", "none", "~") else value


def apply_overrides(config: ConfigDict, overrides: Sequence[str], what: str) -> ConfigDict:
  """Sets ``field=value`` overrides (dotted fields; values parsed as YAML) on ``config``.

  Raises:
    ConfigError: for a malformed override or a field the config does not have.
  """
  for item in overrides:
    field, sep, text = item.partition("=")
    if not sep or not field:
      raise ConfigError(f"{what} override {item!r} must be field=value, e.g. epochs=10")
    *parents, leaf = field.split(".")
    node = config
    for part in parents:
      if part not in node or not isinstance(node[part], ConfigDict):
        raise ConfigError(f"the {what} config has no field {field!r} (in override {item!r})")
      node = node[part]
    if leaf not in node:
      raise ConfigError(f"the {what} config has no field {field!r} (in override {item!r})")
    value = _parse_value(text)
    old = node[leaf]
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
      value = float(value)
    if isinstance(old, tuple) and isinstance(value, list):
      value = tuple(value)
    node[leaf] = value
  return config


def search_config_of(
  method: Method,
  scale: str,
  benchmark: str,
  configs_dir: Path,
  seeds: int,
  first_seed: int = 0,
  overrides: Sequence[str] = (),
) -> ConfigDict:
  """The search config of ``method`` at ``scale`` with ``seeds`` seeds from ``first_seed``."""
  if scale not in SCALES:
    raise ConfigError(f"--scale must be one of {list(SCALES)}, got {scale!r}")
  variants = [v for v in method.variant.split(",") if v]
  if scale == "cpu":
    if benchmark not in CPU_SCALE_CONFIGS:
      raise ConfigError(
        f"the {benchmark} benchmark has no CPU-scale protocol (only "
        f"{sorted(CPU_SCALE_CONFIGS)}); use --scale=paper or --scale=runlocal"
      )
    path = configs_dir / CPU_SCALE_CONFIGS[benchmark]
    arg = ",".join([method.config.rsplit("/", 1)[-1].removesuffix(".py"), *variants])
  else:
    path = configs_dir / method.config
    arg = ",".join(variants + (["runlocal"] if scale == "runlocal" else []))
  config = load_config_file(path, arg)
  config.seed = first_seed
  config.num_seeds = seeds
  return apply_overrides(config, overrides, "search")


def _seed_dirs(method_dir: Path, config: ConfigDict) -> list[Path]:
  if config.num_seeds == 1:
    return [method_dir]
  return [method_dir / f"seed_{config.seed + i}" for i in range(config.num_seeds)]


def _add_wall_time(method_dir: Path, part: str, seconds: float) -> None:
  path = method_dir / WALL_TIME_FILE
  record = json.loads(path.read_text()) if path.exists() else {}
  record[part] = record.get(part, 0.0) + seconds
  write_json(path, record)


def _search_finished(method_dir: Path) -> bool:
  return (method_dir / "genotype.json").exists() or (method_dir / "seeds_summary.json").exists()


def run_method(
  method: Method,
  config: ConfigDict,
  select_cfg: ConfigDict,
  method_dir: Path,
) -> None:
  """Runs (or resumes) one method's search and selection; wall times go to ``wall_time.json``."""
  method_dir.mkdir(parents=True, exist_ok=True)
  if not _search_finished(method_dir):
    t0 = time.perf_counter()
    try:
      search.run(config, method_dir)
    finally:
      _add_wall_time(method_dir, "search_s", time.perf_counter() - t0)
  if method.selection == "argmax":
    return
  for seed_dir in _seed_dirs(method_dir, config):
    if (seed_dir / "select" / method.selection / "selection.json").exists():
      continue
    t0 = time.perf_counter()
    try:
      select.run(select_cfg, seed_dir, method.selection)
    finally:
      _add_wall_time(method_dir, f"{method.selection}_s", time.perf_counter() - t0)


def run(
  benchmark: str,
  methods: Sequence[str] | str,
  seeds: int,
  scale: str,
  workdir: str | os.PathLike,
  *,
  first_seed: int = 0,
  overrides: Sequence[str] = (),
  select_overrides: Sequence[str] = (),
  configs_dir: str | os.PathLike | None = None,
  report_only: bool = False,
  progress_bar: bool = True,
) -> dict[str, Any]:
  """Runs (or resumes) every method and writes the report; returns ``results.json``'s content.

  Args:
    benchmark: ``nb201`` or ``darts``.
    methods: method names (:data:`BENCHMARKS`) or ``'all'``.
    seeds: seeds per method, run as one program.
    scale: ``paper``, ``cpu`` or ``runlocal`` (:data:`SCALES`).
    workdir: the study's folder; each method writes into ``workdir/<method>``.
    first_seed: the first seed (seeds ``first_seed .. first_seed + seeds - 1``).
    overrides: ``field=value`` overrides of every search config.
    select_overrides: ``field=value`` overrides of the selection config.
    configs_dir: the folder of config files (the checkout's ``configs/`` by default).
    report_only: write the report from what is on disk, run nothing.
    progress_bar: show the searches' progress bars.

  Raises:
    NasjaxError: for a bad argument or config, or a failed run, naming the fix.
  """
  if not (isinstance(seeds, int) and seeds >= 1):
    raise ConfigError(f"--seeds must be an integer >= 1, got {seeds!r}")
  chosen = methods_of(benchmark, methods)
  configs_dir = Path(configs_dir) if configs_dir else DEFAULT_CONFIGS_DIR
  workdir = Path(workdir).absolute()
  configs = {}
  for method in chosen:  # every config is built (and checked) before anything runs
    config = search_config_of(method, scale, benchmark, configs_dir, seeds, first_seed, overrides)
    config.progress_bar = progress_bar
    configs[method.name] = config
  select_cfg = select_config()
  apply_overrides(
    select_cfg,
    [f"{k}={v}" for k, v in SELECT_SCALE[scale].items()] + list(select_overrides),
    "selection",
  )
  study = {
    "benchmark": benchmark,
    "scale": scale,
    "seeds": seeds,
    "first_seed": first_seed,
    "methods": [m.name for m in chosen],
    "overrides": list(overrides),
    "select_overrides": list(select_overrides),
  }
  workdir.mkdir(parents=True, exist_ok=True)
  if not report_only:
    write_json(workdir / "study.json", study)
    for method in chosen:
      print(f"== {method.name}: {method.label} ({scale} scale, {seeds} seeds)", flush=True)
      run_method(method, configs[method.name], select_cfg, workdir / method.folder)
  report = results.write_report(workdir, benchmark, scale, chosen, configs)
  print(f"results: {workdir / 'results.md'}", flush=True)
  return report
