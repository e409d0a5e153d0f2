"""SR data on the real Set14 folder: loading, patch correspondence, augmentation, splits, errors."""

import numpy as np
import pytest
from conftest import data_dir
from ml_collections import ConfigDict

from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.super_resolution import data as sr_data
from nasjax.tasks.super_resolution import images as sr_images
from nasjax.tasks.super_resolution.imresize import downsample

SET14 = "$NASJAX_DATA_DIR/sr/Set14"
# The HR sizes (height, width) of Set14 in name order, from the data README.
SET14_SIZES = {
  "baboon": (480, 500), "barbara": (576, 720), "bridge": (512, 512), "coastguard": (288, 352),
  "comic": (361, 250), "face": (276, 276), "flowers": (362, 500), "foreman": (288, 352),
  "lenna": (512, 512), "man": (512, 512), "monarch": (512, 768), "pepper": (512, 512),
  "ppt3": (656, 529), "zebra": (391, 586),
}  # fmt: skip


@pytest.fixture(scope="module")
def set14() -> sr_data.SRImages:
  data_dir()
  return sr_data.load_folder(SET14, 3)


def small_config(**overrides):
  cfg = sr_data.sr_data_config()
  cfg.source, cfg.train_dir, cfg.test_dir = "folder", SET14, "$NASJAX_DATA_DIR/sr/Set5"
  cfg.patch_size, cfg.eval_patch_size, cfg.steps_per_epoch = 12, 24, 5
  for key, value in overrides.items():
    *path, last = key.split(".")
    target = cfg
    for part in path:
      target = target[part]
    target[last] = value
  return cfg


def test_load_set14(set14):
  assert set14.names == sorted(SET14_SIZES) and len(set14) == 14 and set14.scale == 3
  for name, hr, lr in zip(set14.names, set14.hr, set14.lr, strict=True):
    h, w = SET14_SIZES[name]
    assert hr.shape == (h - h % 3, w - w % 3, 3) and hr.dtype == np.uint8
    assert lr.shape == (h // 3, w // 3, 3) and lr.dtype == np.uint8
  bridge = set14.hr[set14.names.index("bridge")]
  assert (bridge[..., 0] == bridge[..., 1]).all() and (bridge[..., 1] == bridge[..., 2]).all()
  comic = set14.names.index("comic")
  np.testing.assert_array_equal(set14.lr[comic], downsample(set14.hr[comic], 3))


def _locate(patch: np.ndarray, image: np.ndarray) -> list[tuple[int, int]]:
  """Every (y, x) where ``patch`` occurs in ``image``."""
  p = patch.shape[0]
  corner = np.all(image[: image.shape[0] - p + 1, : image.shape[1] - p + 1] == patch[0, 0], axis=-1)
  return [
    (y, x)
    for y, x in zip(*np.nonzero(corner), strict=True)
    if (image[y : y + p, x : x + p] == patch).all()
  ]


def _find_pair(images, lr_patch, hr_patch):
  """The (image, y, x) whose LR patch at (y, x) and HR patch at (s y, s x) are the given pair."""
  s, p = images.scale, hr_patch.shape[0]
  for i, (lr, hr) in enumerate(zip(images.lr, images.hr, strict=True)):
    for y, x in _locate(lr_patch, lr):
      if (hr[s * y : s * y + p, s * x : s * x + p] == hr_patch).all():
        return i, y, x
  return None


def _to_uint8(x):
  return np.round(x * 255).astype(np.uint8)


def test_unaugmented_patches_are_cut_at_matching_positions(set14):
  cfg = small_config(train_limit=4, **{"augment.flip": False, "augment.rotate": False})
  data = sr_data.SRSearchData(set14, cfg, seed=0, batch_size=6)
  assert data.image_shape == (4, 4, 3)
  train, val = data.batch(3)
  for batch in (train, val):
    assert batch["image"].shape == (6, 4, 4, 3) and batch["label"].shape == (6, 12, 12, 3)
    assert (
      batch["image"].dtype == np.float32 and 0 <= batch["image"].min() <= batch["image"].max() <= 1
    )
    for lr, hr in zip(_to_uint8(batch["image"]), _to_uint8(batch["label"]), strict=True):
      found = _find_pair(set14, lr, hr)
      assert found is not None and found[0] < 4
  # A wrong HR offset (x s*y + 1) would not be found.
  lr, hr = _to_uint8(train["image"][0]), _to_uint8(train["label"][0])
  assert _find_pair(set14, lr, np.roll(hr, 1, axis=0)) is None


def _dihedral(a):
  for k in range(4):
    yield np.rot90(a, k)
    yield np.rot90(a[:, ::-1], k)


def test_flips_and_rotations_act_alike_on_lr_and_hr(set14):
  data = sr_data.SRSearchData(set14, small_config(train_limit=4), seed=1, batch_size=16)
  train, _ = data.batch(0)
  seen = set()
  for lr, hr in zip(_to_uint8(train["image"]), _to_uint8(train["label"]), strict=True):
    undo = [
      t
      for t, (a, b) in enumerate(zip(_dihedral(lr), _dihedral(hr), strict=True))
      if _find_pair(set14, a, b) is not None
    ]
    assert undo, "no flip/rotation maps the LR and HR patches back to a matching pair"
    seen.add(undo[0])
  assert len(seen) >= 3  # the draws do transform the patches


def test_batches_are_a_function_of_seed_and_step(set14):
  cfg = small_config(train_limit=6)
  a = sr_data.SRSearchData(set14, cfg, seed=0, batch_size=4)
  b = sr_data.SRSearchData(set14, cfg, seed=0, batch_size=4)
  for x, y in zip(a.batch(7), b.batch(7), strict=True):
    np.testing.assert_array_equal(x["label"], y["label"])
  assert not np.array_equal(a.batch(7)[0]["label"], a.batch(8)[0]["label"])
  assert not np.array_equal(a.batch(7)[0]["label"], a.batch(7)[1]["label"])
  other = sr_data.SRSearchData(set14, cfg, seed=1, batch_size=4)
  assert not np.array_equal(a.batch(7)[0]["label"], other.batch(7)[0]["label"])
  streamed = list(a.batches(6, 8))
  np.testing.assert_array_equal(streamed[1][1]["image"], a.batch(7)[1]["image"])
  # Process 1 of 2 gets rows 2..3 of the same global batch.
  half = sr_data.SRSearchData(set14, cfg, seed=0, batch_size=4, process_index=1, process_count=2)
  np.testing.assert_array_equal(half.batch(7)[0]["label"], a.batch(7)[0]["label"][2:])


def test_parts_are_disjoint_by_image_under_the_disjoint_policy(set14):
  plain = small_config(**{"augment.flip": False, "augment.rotate": False})
  data = sr_data.SRSearchData(set14, plain, seed=0, batch_size=4)
  names = [{set14.names[i] for i in part} for part in data.split(0)]
  assert len(names[0]) == len(names[1]) == 7 and not names[0] & names[1]
  for step in range(3):
    for part, batch in zip(names, data.batch(step), strict=True):
      for lr, hr in zip(_to_uint8(batch["image"]), _to_uint8(batch["label"]), strict=True):
        assert set14.names[_find_pair(set14, lr, hr)[0]] in part
  ratio = sr_data.SRSearchData(set14, small_config(split_policy="ratio", split_ratio=0.3), 0, 4)
  assert [len(p) for p in ratio.split(0)] == [4, 10]
  shuffled = sr_data.SRSearchData(set14, small_config(split_policy="reshuffle"), 0, 4)
  assert not np.array_equal(shuffled.split(0)[0], shuffled.split(1)[0])
  assert not set(shuffled.split(1)[0]) & set(shuffled.split(1)[1])
  shared = sr_data.SRSearchData(set14, small_config(split_policy="shared"), 0, 4)
  assert [len(p) for p in shared.split(0)] == [14, 14]
  train, val = shared.batch(0)  # one image set, but each part has its own draws
  assert not np.array_equal(train["label"], val["label"])


def test_half_and_eval_batches_are_fixed_centre_crops(set14):
  data = sr_data.SRSearchData(set14, small_config(), seed=0, batch_size=4, test=set14)
  batches = list(data.half_batches("alpha", 3))
  assert [b["weight"].tolist() for b in batches] == [[1, 1, 1], [1, 1, 1], [1, 0, 0]]
  first = data.alpha_idx[0]
  lr, hr = set14.lr[first], set14.hr[first]
  y, x = (lr.shape[0] - 8) // 2, (lr.shape[1] - 8) // 2
  np.testing.assert_array_equal(_to_uint8(batches[0]["image"][0]), lr[y : y + 8, x : x + 8])
  np.testing.assert_array_equal(
    _to_uint8(batches[0]["label"][0]), hr[3 * y : 3 * y + 24, 3 * x : 3 * x + 24]
  )
  np.testing.assert_array_equal(batches[2]["label"][1], batches[0]["label"][0])  # filler
  evals = list(data.eval_batches(5, limit=7))
  assert [b["weight"].sum() for b in evals] == [5, 2] and evals[1]["image"].shape == (5, 8, 8, 3)
  # eval_patch_size larger than the smallest test image: the largest fitting multiple of 3.
  big = sr_data.SRSearchData(set14, small_config(eval_patch_size=600), 0, 4, test=set14)
  assert next(big.eval_batches(2))["label"].shape == (2, 249, 249, 3)  # comic is 250 wide


def test_train_data_draws_from_every_image(set14):
  data = sr_data.SRTrainData(set14, small_config(train_limit=5), seed=0, batch_size=8)
  assert data.steps_per_epoch == 5
  batch = data.batch(2)
  assert batch["image"].shape == (8, 4, 4, 3)
  np.testing.assert_array_equal(batch["label"], data.batch(2)["label"])
  assert not np.array_equal(batch["label"], data.batch(3)["label"])


def test_load_sr_dataset_and_test_sets(tmp_path):
  set5 = data_dir() / "sr/Set5"
  train, test = sr_data.load_sr_dataset(small_config(scale=3, patch_size=12, train_limit=2))
  assert train.names == ["baboon", "barbara"] and len(test) == 5
  sets = sr_images.load_test_sets(["$NASJAX_DATA_DIR/sr/Set5"], 4)
  assert list(sets) == ["Set5"] and sets["Set5"].lr[0].shape == (128, 128, 3)
  (tmp_path / "Five").mkdir()
  (tmp_path / "Five/HR").symlink_to(set5)  # the benchmark/<set>/HR layout
  assert list(sr_images.load_test_sets([str(tmp_path / "Five/HR"), str(set5)], 2)) == [
    "Five",
    "Set5",
  ]
  with pytest.raises(ConfigError, match="both named 'Set5'"):
    sr_images.load_test_sets([str(set5), str(set5)], 2)


def test_missing_data_errors(tmp_path):
  with pytest.raises(DataNotFoundError, match="not found"):
    sr_data.load_folder(str(tmp_path / "nowhere"), 2)
  with pytest.raises(DataNotFoundError, match="holds no image"):
    sr_data.load_folder(str(tmp_path), 2)
  with pytest.raises(DataNotFoundError, match="unset environment variable"):
    sr_data.load_folder("$NASJAX_SURELY_UNSET_VARIABLE/Set5", 2)
  with pytest.raises(DataNotFoundError, match="download=True"):
    sr_data.load_div2k(2, data_dir=str(tmp_path), download=False)


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("scale", 5, "scale must be one of"),
    ("patch_size", 97, "not a multiple"),
    ("eval_patch_size", 0, "eval_patch_size must be an integer"),
    ("source", "zip", "source must be one of"),
    ("steps_per_epoch", 0, "steps_per_epoch"),
    ("split_ratio", 0.3, "split_policy='ratio'"),
    ("augment", ConfigDict(dict(flip=1, rotate=True)), "True or False"),
    ("test_dir", "", "test_dir must name a folder"),
  ],
)
def test_bad_config_values(field, value, message):
  with pytest.raises(ConfigError, match=message):
    sr_data.validate_sr_data(small_config(**{field: value}))


def test_patch_larger_than_an_image_is_a_config_error(set14):
  with pytest.raises(ConfigError, match="larger than the smallest training image"):
    sr_data.SRSearchData(set14, small_config(patch_size=600), 0, 4)
