"""End-of-epoch analysis inside a search: DARTS-ES stops it and returns the earlier architecture."""

import json

from conftest import REPO  # noqa: F401 (sets NASJAX_DATA_DIR)

from nasjax.analysis import hessian
from nasjax.config.protocols import nb201_protocol, runlocal
from nasjax.config.search import search_config
from nasjax.run import search


def _config():
  config = runlocal(nb201_protocol(search_config()))
  config.epochs = 4
  config.data.train_limit = 320  # 5 steps per epoch
  config.progress_bar = False
  config.eval.every_epochs = 0
  config.analysis.update(hessian_every=1, hessian_method="lanczos", hessian_iters=4)
  config.analysis.early_stop.update(enabled=True, window=1, factor=1.3)
  return config


def test_darts_es_stops_and_a_rerun_does_not_continue(tmp_path, monkeypatch, nb201_table_path):
  calls = []

  def stop_at_the_third_measurement(eigenvalues, window, factor):
    calls.append(list(eigenvalues))
    return len(eigenvalues) >= 3

  monkeypatch.setattr(hessian, "should_stop_early", stop_at_the_third_measurement)
  workdir = tmp_path / "es"
  result = search.run(_config(), workdir)
  assert [len(c) for c in calls] == [1, 2, 3]  # the rule sees every epoch's eigenvalue
  stop = json.loads((workdir / "early_stop.json").read_text())
  assert stop["epoch"] == 3 and stop["step"] == 15 and stop["selected_epoch"] == 2
  logged = [json.loads(x) for x in (workdir / "genotypes.jsonl").read_text().splitlines()]
  assert [r["epoch"] for r in logged] == [1, 2, 3]
  chosen = logged[1]["genotype"]
  assert stop["genotype"] == chosen
  final = json.loads((workdir / "genotype.json").read_text())
  assert final["genotype"] == chosen and final["epochs"] == 3
  assert result.step == 15 and result.genotype.to_dict() == chosen
  eigs = [json.loads(x)["max_eig"] for x in (workdir / "hessian.jsonl").read_text().splitlines()]
  assert stop["eigenvalues"] == eigs and len(eigs) == 3
  # Re-running the stopped search neither trains on nor changes its answer.
  again = search.run(_config(), workdir)
  assert again.step == 15 and again.genotype.to_dict() == chosen
  epochs = [
    json.loads(x)["epoch"]
    for x in (workdir / "metrics.jsonl").read_text().splitlines()
    if '"kind": "epoch"' in x
  ]
  assert epochs == [1, 2, 3]
