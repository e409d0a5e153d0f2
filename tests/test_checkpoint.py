"""Checkpointer: round trip, keep-k, half-written and mismatched checkpoints."""

import numpy as np
import pytest

from nasjax.infra.checkpoint import Checkpointer, CheckpointError


def _state(seed, width=3):
  rng = np.random.default_rng(seed)
  return {
    "weights": {"w": rng.normal(size=(width, 2)).astype(np.float32)},
    "step": np.array(seed, np.int32),
    "rng": np.array([seed, 7], np.uint32),
  }


def test_round_trip_keeps_the_last_k(tmp_path):
  ckpt = Checkpointer(tmp_path / "c", keep=2, async_save=True)
  for step in (1, 2, 3):
    ckpt.save(step, _state(step), {"epoch": step})
  ckpt.wait()
  assert ckpt.all_steps() == [2, 3]
  state, meta = ckpt.restore(3, _state(0))
  ckpt.close()
  assert meta == {"epoch": 3}
  for a, b in zip(
    (state["weights"]["w"], state["step"], state["rng"]),
    (_state(3)["weights"]["w"], _state(3)["step"], _state(3)["rng"]),
    strict=True,
  ):
    assert np.array_equal(np.asarray(a), b) and np.asarray(a).dtype == b.dtype


def test_temporary_folders_are_not_checkpoints(tmp_path):
  ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
  ckpt.save(5, _state(5), {})
  ckpt.close()
  partial = tmp_path / "c" / "9.orbax-checkpoint-tmp-123"
  partial.mkdir()
  (partial / "junk").write_bytes(b"\0" * 10)
  reopened = Checkpointer(tmp_path / "c", keep=3)
  assert reopened.latest_step() == 5
  reopened.close()


def test_a_mismatched_target_is_a_checkpoint_error(tmp_path):
  ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
  ckpt.save(1, _state(1), {})
  with pytest.raises(CheckpointError, match="does not fit this search"):
    ckpt.restore(1, _state(0, width=4))
  extra = dict(_state(0), more=np.zeros(2, np.float32))
  with pytest.raises(CheckpointError, match="does not fit this search"):
    ckpt.restore(1, extra)
  ckpt.close()


def test_corrupt_files_are_a_checkpoint_error(tmp_path):
  ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
  ckpt.save(1, _state(1), {})
  for f in (tmp_path / "c" / "1").rglob("*"):
    if f.is_file() and f.stat().st_size > 100:
      f.write_bytes(b"\0" * 16)
  with pytest.raises(CheckpointError, match="delete that folder"):
    ckpt.restore(1, _state(0))
  ckpt.close()


def test_a_state_saved_before_an_empty_field_was_added_restores(tmp_path):
  import flax
  import optax

  @flax.struct.dataclass
  class Before:
    step: np.ndarray
    params: dict
    opt: optax.OptState

  @flax.struct.dataclass
  class After:
    step: np.ndarray
    params: dict
    opt: optax.OptState
    projection: dict

  params = {"w": np.arange(6, dtype=np.float32).reshape(3, 2)}
  tx = optax.chain(optax.add_decayed_weights(1e-3), optax.sgd(0.1, momentum=0.9))
  opt = tx.update({"w": np.ones((3, 2), np.float32)}, tx.init(params), params)[1]  # momentum != 0
  ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
  ckpt.save(4, Before(np.array(4, np.int32), params, opt), {"epoch": 1})
  zeros = jax_tree_zeros(params)
  target = After(np.array(0, np.int32), zeros, tx.init(zeros), {})
  state, meta = ckpt.restore(4, target)
  ckpt.close()
  assert meta == {"epoch": 1} and int(state.step) == 4 and state.projection == {}
  np.testing.assert_array_equal(state.params["w"], params["w"])
  np.testing.assert_array_equal(state.opt[1][0].trace["w"], opt[1][0].trace["w"])
  assert float(np.abs(opt[1][0].trace["w"]).min()) > 0
  # A field the checkpoint lacks that holds arrays still does not fit.
  ckpt = Checkpointer(tmp_path / "c", keep=3, async_save=False)
  bigger = After(np.array(0, np.int32), zeros, tx.init(zeros), {"p": np.zeros(2, np.float32)})
  with pytest.raises(CheckpointError, match="does not fit this search"):
    ckpt.restore(4, bigger)
  ckpt.close()


def jax_tree_zeros(tree):
  return {k: np.zeros_like(v) for k, v in tree.items()}
