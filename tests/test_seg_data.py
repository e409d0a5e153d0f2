"""Segmentation data on real CamVid: loading, aligned augmentation, splits, batches, errors."""

import time

import numpy as np
import pytest
from conftest import data_dir
from ml_collections import ConfigDict
from PIL import Image

from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.segmentation import data as seg_data
from nasjax.tasks.segmentation.data import SegImages, normalize_images, resize_image, resize_label
from nasjax.tasks.segmentation.images import (
  CITYSCAPES_TRAIN_IDS,
  IMAGENET_MEAN,
  IMAGENET_STD,
  crop_at,
  load_cityscapes,
  random_scale_crop_flip,
)

CAMVID = "$NASJAX_DATA_DIR/seg/camvid"


def camvid_config(**overrides):
  cfg = seg_data.seg_data_config()
  cfg.source, cfg.name, cfg.data_dir = "folder", "camvid", CAMVID
  cfg.num_classes, cfg.void_label, cfg.crop_size = 11, 11, 48
  for key, value in overrides.items():
    cfg[key] = value
  return cfg


@pytest.fixture(scope="module")
def camvid() -> tuple[SegImages, SegImages]:
  data_dir()
  return seg_data.load_seg_dataset(camvid_config())


def test_load_camvid(camvid):
  train, test = camvid
  assert (len(train), len(test)) == (62, 21) and train.num_classes == 11
  assert train.names[0] == "0001TP_006690" and len(set(train.names) & set(test.names)) == 0
  for image, label in zip(train.images[::10], train.labels[::10], strict=True):
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert label.shape == (360, 480) and label.dtype == np.uint8
  ids = np.unique(np.concatenate([np.unique(lab) for lab in train.labels]))
  assert ids.tolist() == list(range(11)) + [255]  # void (11) became 255
  raw = np.asarray(Image.open(data_dir() / "seg/camvid/trainannot/0001TP_006690.png"))
  np.testing.assert_array_equal(train.labels[0], np.where(raw == 11, 255, raw))
  assert (raw == 11).any()


def _write_pair(folder, name, label, size=(6, 8)):
  (folder / "img").mkdir(exist_ok=True)
  (folder / "lab").mkdir(exist_ok=True)
  Image.fromarray(np.zeros((*size, 3), np.uint8)).save(folder / "img" / f"{name}.png")
  Image.fromarray(np.full(size, label, np.uint8)).save(folder / "lab" / f"{name}.png")
  return f"img/{name}.png lab/{name}.png"


def test_list_file_errors(tmp_path):
  load = seg_data.load_seg_folder
  with pytest.raises(DataNotFoundError, match="data_dir.*not found"):
    load(str(tmp_path / "nowhere"), "train.txt", 3)
  with pytest.raises(DataNotFoundError, match="list file .*train.txt not found"):
    load(str(tmp_path), "train.txt", 3)
  good = _write_pair(tmp_path, "a", 1)
  (tmp_path / "one.txt").write_text("img/a.png\n")
  with pytest.raises(DataNotFoundError, match="one.txt:1 must hold two paths"):
    load(str(tmp_path), "one.txt", 3)
  (tmp_path / "gone.txt").write_text(f"{good}\nimg/b.png lab/b.png\n")
  with pytest.raises(DataNotFoundError, match="gone.txt:2.*b.png not found"):
    load(str(tmp_path), "gone.txt", 3)
  (tmp_path / "big.txt").write_text(_write_pair(tmp_path, "c", 7) + "\n")
  with pytest.raises(ConfigError, match="holds id 7.*num_classes=3"):
    load(str(tmp_path), "big.txt", 3)
  assert load(str(tmp_path), "big.txt", 3, void_label=7).labels[0].max() == 255
  with pytest.raises(DataNotFoundError, match="unset environment variable"):
    load("$NASJAX_NO_SUCH_VARIABLE/camvid", "train.txt", 3)


def encoded_pair(seed: int, shape=(64, 96), block=16):
  """A label of random constant blocks and an image whose colour encodes it (20 x id)."""
  rng = np.random.default_rng(seed)
  coarse = rng.integers(0, 11, (shape[0] // block, shape[1] // block), dtype=np.uint8)
  label = np.kron(coarse, np.ones((block, block), np.uint8))
  image = np.stack([label * 20, label * 20, 250 - label * 20], axis=-1).astype(np.uint8)
  return image, label


def test_scale_crop_flip_keeps_image_and_label_aligned():
  checked = 0
  for seed in range(12):
    image, label = encoded_pair(seed)
    a, b = random_scale_crop_flip(image, label, np.random.default_rng(seed), 40, 0.5, 2.0, True)
    assert a.shape == (40, 40, 3) and b.shape == (40, 40)
    pad = b == 255
    assert (a[pad] == [124, 116, 104]).all()  # the mean pixel
    # pixels whose 5x5 label neighbourhood is one class carry that class's colour exactly
    p = np.pad(b.astype(int), 2, constant_values=-1)
    windows = np.lib.stride_tricks.sliding_window_view(p, (5, 5))
    pure = (windows == b[:, :, None, None]).all(axis=(2, 3)) & ~pad
    assert np.abs(a[pure, 0].astype(int) - 20 * b[pure]).max() <= 1
    assert np.abs(a[pure, 2].astype(int) - (250 - 20 * b[pure].astype(int))).max() <= 1
    checked += pure.sum()
  assert checked > 12 * 40 * 40 // 3


def test_unit_scale_crops_and_mirrors_exactly():
  image, label = encoded_pair(0)
  a, b = crop_at(image, label, 32, 1.0, 5, 9)
  np.testing.assert_array_equal(a, image[5:37, 9:41])
  np.testing.assert_array_equal(b, label[5:37, 9:41])
  a, b = crop_at(image, label, 32, 1.0, 5, 9, mirror=True)
  np.testing.assert_array_equal(a, image[5:37, 9:41][:, ::-1])
  np.testing.assert_array_equal(b, label[5:37, 9:41][:, ::-1])


@pytest.mark.parametrize("scale", [0.5, 0.73, 1.37, 2.0])
def test_a_crop_is_the_crop_of_the_whole_rescaled_image(scale):
  image, label = np.random.default_rng(1).integers(0, 256, (2, 37, 53, 3), dtype=np.uint8)
  label = label[..., 0] % 11
  nh, nw = round(37 * scale), round(53 * scale)
  y0, x0 = (nh - 16) // 3, (nw - 16) // 2
  a, b = crop_at(image, label, 16, scale, y0, x0)
  whole_label = resize_label(label, (nh, nw))
  np.testing.assert_array_equal(b, whole_label[y0 : y0 + 16, x0 : x0 + 16])
  whole = resize_image(image, (nh, nw)).astype(int)
  assert np.abs(a - whole[y0 : y0 + 16, x0 : x0 + 16]).max() <= 1


def test_resize_label_is_nearest_by_pixel_centres():
  label = np.arange(6, dtype=np.uint8).reshape(2, 3)
  np.testing.assert_array_equal(resize_label(label, (4, 6))[::2, ::2], label)
  assert resize_label(np.arange(6, dtype=np.uint8)[None], (1, 3)).tolist() == [[1, 3, 5]]


def test_normalisation_is_imagenet_mean_and_std():
  x = np.array([[[0, 128, 255]]], np.uint8)
  expected = (np.array([0, 128, 255]) / 255 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
  np.testing.assert_allclose(normalize_images(x)[0, 0], expected, rtol=1e-6)


def indexed_images(n=20, shape=(24, 30)) -> SegImages:
  """Images of one colour each (5 x index), labels of one class (index % 7)."""
  images = [np.full((*shape, 3), 5 * i, np.uint8) for i in range(n)]
  labels = [np.full(shape, i % 7, np.uint8) for i in range(n)]
  return SegImages(images, labels, [str(i) for i in range(n)], 7)


def image_ids(batch) -> list[int]:
  x = batch["image"][:, 0, 0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
  return np.round(x * 255 / 5).astype(int).tolist()


def small_config(**overrides):
  return camvid_config(name="toy", num_classes=7, void_label=-1, crop_size=16, **overrides)


def test_disjoint_parts_and_one_visit_per_epoch():
  images = indexed_images()
  data = seg_data.SegSearchData(images, small_config(min_scale=1.0, max_scale=1.0), 0, 3)
  assert set(data.weight_idx.tolist()).isdisjoint(data.alpha_idx.tolist())
  assert len(data.weight_idx) == len(data.alpha_idx) == 10 and data.steps_per_epoch == 3
  for epoch in (0, 1):
    seen = [[], []]
    for step in range(epoch * 3, epoch * 3 + 3):
      for part, batch in enumerate(data.batch(step)):
        ids = image_ids(batch)
        assert batch["image"].shape == (3, 16, 16, 3) and batch["image"].dtype == np.float32
        assert (
          batch["label"].dtype == np.int32 and (batch["label"][:, 0, 0] == np.array(ids) % 7).all()
        )
        seen[part] += ids
    for part, idx in enumerate((data.weight_idx, data.alpha_idx)):
      assert len(set(seen[part])) == 9 and set(seen[part]) <= set(idx.tolist())


def test_batches_are_a_function_of_seed_and_step(camvid):
  train, test = camvid
  cfg = camvid_config(train_limit=8)
  one = seg_data.SegSearchData(train, cfg, seed=3, batch_size=2, test=test)
  again = seg_data.SegSearchData(train, cfg, seed=3, batch_size=2)
  for a, b in zip(one.batch(5), again.batch(5), strict=True):
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])
  assert not np.array_equal(one.batch(5)[0]["image"], one.batch(6)[0]["image"])
  other = seg_data.SegSearchData(train, cfg, seed=4, batch_size=2)
  assert not np.array_equal(one.batch(5)[0]["image"], other.batch(5)[0]["image"])
  assert set(np.unique(one.batch(0)[0]["label"])) <= set(range(11)) | {255}


def noise_images(n=8, shape=(24, 30)) -> SegImages:
  rng = np.random.default_rng(7)
  images = list(rng.integers(0, 256, (n, *shape, 3), dtype=np.uint8))
  return SegImages(
    images, list(rng.integers(0, 7, (n, *shape), dtype=np.uint8)), list("abcdefgh"), 7
  )


def test_processes_take_their_rows_of_the_global_batch():
  images, cfg = noise_images(), small_config(steps_per_epoch=4)
  whole = seg_data.SegSearchData(images, cfg, 1, 4).batch(6)
  shards = [seg_data.SegSearchData(images, cfg, 1, 4, p, 2).batch(6) for p in (0, 1)]
  for part in (0, 1):
    for key in ("image", "label"):
      joined = np.concatenate([shards[0][part][key], shards[1][part][key]])
      np.testing.assert_array_equal(joined, whole[part][key])
  with pytest.raises(ConfigError, match="divisible"):
    seg_data.SegSearchData(images, cfg, 1, 3, 0, 2)


def test_half_batches_are_unaugmented_centre_crops():
  images = indexed_images(7, (20, 12))  # narrower than the crop: padded left-right
  data = seg_data.SegSearchData(images, small_config(split_policy="shared"), 0, 2)
  batches = list(data.half_batches("alpha", 3))
  assert [b["weight"].tolist() for b in batches] == [[1, 1, 1]] * 2 + [[1, 0, 0]]
  assert image_ids(batches[0]) == [0, 1, 2] and image_ids(batches[2]) == [6, 0, 1]
  label = batches[1]["label"][0]
  assert (label[:, 12:] == 255).all() and (label[:, :12] == 3).all()


def test_eval_batches_and_test_set(camvid):
  train, test = camvid
  data = seg_data.SegTrainData(train, camvid_config(eval_scale=0.25), 0, 4, test=test)
  assert data.steps_per_epoch == 15 and data.image_shape == (48, 48, 3)
  images, labels = data.test_set()
  assert len(images) == 21 and images[0].shape == (90, 120, 3) and labels[0].shape == (90, 120)
  np.testing.assert_array_equal(labels[3], resize_label(test.labels[3], (90, 120)))
  batches = list(data.eval_batches(8))
  assert [b["image"].shape for b in batches] == [(8, 90, 120, 3)] * 3
  assert [b["weight"].sum() for b in batches] == [8, 8, 5]
  np.testing.assert_array_equal(batches[2]["label"][5], labels[0])  # filler from the start
  np.testing.assert_allclose(batches[0]["image"][1], normalize_images(images[1]))
  assert len(list(data.eval_batches(8, limit=3))) == 1
  batch = data.batch(0)
  assert batch["image"].shape == (4, 48, 48, 3) and batch["label"].shape == (4, 48, 48)


def test_cityscapes_train_id_table():
  pairs = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11}
  pairs |= {25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
  assert CITYSCAPES_TRAIN_IDS.shape == (256,) and CITYSCAPES_TRAIN_IDS.dtype == np.uint8
  for label_id in range(256):
    assert CITYSCAPES_TRAIN_IDS[label_id] == pairs.get(label_id, 255)
  assert sorted(set(CITYSCAPES_TRAIN_IDS.tolist()) - {255}) == list(range(19))


def test_cityscapes_without_its_manual_download_fails_fast(tmp_path):
  start = time.monotonic()
  with pytest.raises(DataNotFoundError) as err:
    load_cityscapes("train", data_dir=str(tmp_path))
  message = str(err.value)
  assert "leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip" in message
  assert str(tmp_path / "downloads" / "manual") in message and "manual_dir" in message
  (tmp_path / "zips").mkdir()
  (tmp_path / "zips" / "gtFine_trainvaltest.zip").write_bytes(b"")
  with pytest.raises(DataNotFoundError, match=r"put leftImg8bit_trainvaltest.zip in .*zips"):
    load_cityscapes("validation", data_dir=str(tmp_path), manual_dir=str(tmp_path / "zips"))
  assert time.monotonic() - start < 10


@pytest.mark.parametrize(
  "field, value, message",
  [
    ("source", "web", "source must be one of"),
    ("name", "camvid", "name must be 'cityscapes' with source='tfds'"),
    ("num_classes", 21, "cityscapes has 19 classes"),
    ("crop_size", 0, "crop_size must be an integer >= 1"),
    ("min_scale", 3.0, "exceeds config.data.max_scale"),
    ("flip", 1, "flip must be True or False"),
    ("split_ratio", 0.3, "needs config.data.split_policy='ratio'"),
    ("eval_mode", "tiles", "eval_mode must be one of"),
    ("eval_stride", 1000, "eval_stride must be an integer <= 769"),
    ("eval_scale", 0.0, "eval_scale must be a number > 0"),
    ("steps_per_epoch", -1, "steps_per_epoch must be an integer >= 0"),
  ],
)
def test_bad_config_values(field, value, message):
  cfg = ConfigDict({**seg_data.seg_data_config().to_dict(), field: value})
  with pytest.raises(ConfigError, match=message):
    seg_data.validate_seg_data(cfg)


def test_unknown_field_and_folder_without_lists():
  cfg = seg_data.seg_data_config()
  cfg.crop = 3
  with pytest.raises(ConfigError, match=r"unknown field\(s\) \['crop'\]"):
    seg_data.validate_seg_data(cfg)
  with pytest.raises(ConfigError, match="data_dir must be set"):
    seg_data.validate_seg_data(camvid_config(data_dir=""))
  with pytest.raises(ConfigError, match="larger than the smaller data part"):
    seg_data.SegSearchData(indexed_images(6), small_config(), 0, 4)
