"""AlphaHistory: alphas.npz holds logits, probabilities and edge betas, and survives a resume."""

import numpy as np

from nasjax.run.records import AlphaHistory

OPS = ("none", "skip_connect", "nor_conv_3x3")


def _epoch(k, betas=True):
  rng = np.random.default_rng(k)
  logits = {"cell": rng.normal(size=(6, 3)).astype(np.float32)}
  probs = {"cell": np.exp(logits["cell"]) / np.exp(logits["cell"]).sum(-1, keepdims=True)}
  edge = {"cell": rng.normal(size=(6,)).astype(np.float32)} if betas else None
  return logits, probs, edge


def test_alpha_history_records_betas_and_reloads_them(tmp_path):
  history = AlphaHistory(tmp_path, OPS)
  for epoch in (1, 2, 3):
    history.append(epoch, 10 * epoch, *_epoch(epoch))
  with np.load(tmp_path / "alphas.npz") as d:
    assert sorted(d.files) == ["cell", "cell_betas", "cell_logits", "epoch", "op_names", "step"]
    assert d["cell_betas"].shape == (3, 6) and d["cell"].shape == (3, 6, 3)
    np.testing.assert_array_equal(d["cell_betas"][1], _epoch(2)[2]["cell"])
    np.testing.assert_array_equal(d["cell_logits"][2], _epoch(3)[0]["cell"])
  # A resumed run reloads the file, drops the epochs after its checkpoint and goes on.
  resumed = AlphaHistory(tmp_path, OPS)
  resumed.truncate_after(20)
  resumed.append(3, 30, *_epoch(3))
  with np.load(tmp_path / "alphas.npz") as d:
    np.testing.assert_array_equal(d["step"], [10, 20, 30])
    np.testing.assert_array_equal(d["cell_betas"][2], _epoch(3)[2]["cell"])
    np.testing.assert_array_equal(d["cell_betas"][0], _epoch(1)[2]["cell"])


def test_alpha_history_without_betas_has_no_beta_arrays(tmp_path):
  history = AlphaHistory(tmp_path, OPS)
  history.append(1, 10, *_epoch(1, betas=False))
  with np.load(tmp_path / "alphas.npz") as d:
    assert sorted(d.files) == ["cell", "cell_logits", "epoch", "op_names", "step"]
  reloaded = AlphaHistory(tmp_path, OPS)
  assert reloaded.records[0]["betas"] == {} and list(reloaded.records[0]["probs"]) == ["cell"]
