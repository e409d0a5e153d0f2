"""Configs: their defaults, the published protocols, and the checks of every field.

* :mod:`nasjax.config.search` -- :func:`search_config` (every field the
  search reads, DARTS' defaults) and :func:`validate_search_config`;
* :mod:`nasjax.config.protocols` -- published search protocols as config
  transformations (NAS-Bench-201's, DARTS', SA-DARTS', Beta-DARTS', ...);
* :mod:`nasjax.config.retrain`, :mod:`nasjax.config.sr`,
  :mod:`nasjax.config.seg` -- retraining configs and the super-resolution
  and segmentation searches;
* :mod:`nasjax.config.select` -- the read-outs' settings;
* :mod:`nasjax.checks` -- the check helpers every validator is made of
  (``check``, ``positive``, ``integer``, ``one_of``, ...; exported here too);
* :mod:`nasjax.config.run_fields` -- the fields every run config has;
* :mod:`nasjax.config.resume` -- which changes a resumed run accepts.

Files under ``configs/`` build their configs from these (``get_config(arg)``
with variants such as ``runlocal``).
"""

from nasjax import checks
from nasjax.checks import (
  boolean,
  check,
  in_unit,
  integer,
  known_fields,
  non_negative,
  number,
  one_of,
  positive,
)
from nasjax.config.protocols import (
  ROBUST_DATASETS,
  autodl_step,
  beta_darts_protocol,
  darts_protocol,
  darts_space,
  demo,
  drnas_protocol,
  fix_alpha,
  nb201_protocol,
  pc_darts_protocol,
  quark0_step,
  robust_config,
  robust_protocol,
  robust_variants,
  runlocal,
  runlocal_darts,
  sa_darts_protocol,
  snas_protocol,
)
from nasjax.config.resume import config_changes
from nasjax.config.retrain import imagenet_protocol, retrain_config, validate_retrain_config
from nasjax.config.search import parse_variants, search_config, validate_search_config
from nasjax.config.seg import seg_retrain_config, seg_search_config, seg_select_config
from nasjax.config.select import analyze_config, select_config, validate_select_config
from nasjax.config.sr import sr_retrain_config, sr_search_config
from nasjax.core.relax import relaxation_config

__all__ = [
  "demo",
  "ROBUST_DATASETS",
  "autodl_step",
  "quark0_step",
  "relaxation_config",
  "boolean",
  "check",
  "in_unit",
  "integer",
  "known_fields",
  "non_negative",
  "number",
  "one_of",
  "positive",
  "analyze_config",
  "beta_darts_protocol",
  "checks",
  "config_changes",
  "darts_protocol",
  "darts_space",
  "drnas_protocol",
  "fix_alpha",
  "imagenet_protocol",
  "nb201_protocol",
  "parse_variants",
  "pc_darts_protocol",
  "retrain_config",
  "robust_config",
  "robust_protocol",
  "robust_variants",
  "runlocal",
  "runlocal_darts",
  "sa_darts_protocol",
  "search_config",
  "seg_retrain_config",
  "seg_search_config",
  "seg_select_config",
  "select_config",
  "snas_protocol",
  "sr_retrain_config",
  "sr_search_config",
  "validate_retrain_config",
  "validate_search_config",
  "validate_select_config",
]
