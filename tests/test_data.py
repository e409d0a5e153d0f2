"""Search data: the split, deterministic batches, augmentation, sources and their errors."""

import importlib.util
import io
import json

import ml_collections
import numpy as np
import pytest
from conftest import REPO

from nasjax.config.search import search_config, validate_search_config
from nasjax.data import files
from nasjax.data import split as data
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.tasks.classification import data as data_lib
from nasjax.tasks.classification import datasets


@pytest.fixture(scope="module")
def dataset(cifar_subset):
  return datasets.ImageDataset(
    "cifar10",
    cifar_subset["x_train"],
    cifar_subset["y_train"].astype(np.int32),
    cifar_subset["x_test"],
    cifar_subset["y_test"].astype(np.int32),
    10,
  )


def _cfg(**kw):
  cfg = search_config().data
  cfg.update(kw)
  return cfg


def test_split_is_disjoint_complete_and_seeded():
  w, a = data.split_indices(5085, seed=0)
  assert len(w) == 2542 and len(a) == 2543
  assert not set(w) & set(a) and set(w) | set(a) == set(range(5085))
  w2, _ = data.split_indices(5085, seed=0)
  w3, _ = data.split_indices(5085, seed=1)
  assert np.array_equal(w, w2) and not np.array_equal(w, w3)
  with pytest.raises(ConfigError, match="split_policy"):
    data.split_indices(10, 0, policy="shared-ish")
  with pytest.raises(ConfigError, match="split_ratio"):
    data.split_indices(10, 0, ratio=1.0)


def _plain(**kw):  # no augmentation: batches hold the training images themselves
  return _cfg(augment=ml_collections.ConfigDict(dict(crop_padding=0, flip=False, cutout=0)), **kw)


def _rows_of_epoch(d, dataset, epoch):
  """The training-set rows of every weight and alpha batch of ``epoch``, in order."""
  x = datasets.normalize(dataset.x_train, "cifar10")
  lookup = {x[i].tobytes(): i for i in range(len(x))}
  seen_w, seen_a = [], []
  for step in range(epoch * d.steps_per_epoch, (epoch + 1) * d.steps_per_epoch):
    t, v = d.batch(step)
    seen_w += [lookup[img.tobytes()] for img in t["image"]]
    seen_a += [lookup[img.tobytes()] for img in v["image"]]
  return np.array(seen_w), np.array(seen_a)


def test_disjoint_split_and_batches_are_unchanged(dataset):
  # Pinned from the implementation that predates the other policies: resumed runs rely on it.
  w, a = data.split_indices(5085, seed=0)
  assert w[:8].tolist() == [0, 2, 3, 5, 8, 9, 10, 16]
  assert a[:8].tolist() == [1, 4, 6, 7, 11, 12, 13, 14]
  d = data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=64)
  assert d.steps_per_epoch == 39
  assert d._order(0, 0)[:8].tolist() == [4330, 4424, 4660, 1714, 3510, 521, 4899, 4311]
  assert d._order(0, 1)[:8].tolist() == [4813, 2099, 3894, 1330, 13, 986, 155, 3482]
  assert d._order(1, 0)[:8].tolist() == [970, 1193, 1270, 36, 4501, 3614, 2484, 692]
  assert d._order(1, 1)[:8].tolist() == [1337, 1229, 2392, 648, 4693, 802, 1446, 4403]
  t, v = d.batch(39 + 3)
  assert t["label"][:8].tolist() == [2, 5, 8, 9, 8, 4, 7, 9]
  assert v["label"][:8].tolist() == [8, 9, 8, 4, 2, 4, 1, 0]
  assert float(t["image"].sum()) == pytest.approx(-49054.9765625, rel=1e-6)
  assert float(v["image"].sum()) == pytest.approx(-58585.5390625, rel=1e-6)
  for epoch in (0, 3):  # the same cut every epoch
    assert all(np.array_equal(p, q) for p, q in zip(d.split(epoch), (w, a), strict=True))
    assert not set(d._order(epoch, 0)) & set(d._order(epoch, 1))


def test_ratio_split_has_the_requested_sizes(dataset):
  w, a = data.split_indices(1000, seed=2, policy="ratio", ratio=0.3)
  assert (len(w), len(a)) == (300, 700)
  assert not set(w) & set(a) and set(w) | set(a) == set(range(1000))
  w, a = data.split_indices(5085, seed=2, policy="ratio", ratio=0.8)
  assert (len(w), len(a)) == (4068, 1017)
  # At 0.5 the ratio cut is the disjoint one.
  for p, q in zip(
    data.split_indices(5085, 7, "ratio", 0.5), data.split_indices(5085, 7), strict=True
  ):
    assert np.array_equal(p, q)
  d = data_lib.SearchData(
    dataset, _plain(split_policy="ratio", split_ratio=0.75, train_limit=800), 0, 50
  )
  assert (len(d.weight_idx), len(d.alpha_idx)) == (600, 200) and d.steps_per_epoch == 4
  seen_w, seen_a = _rows_of_epoch(d, dataset, 1)
  assert set(seen_w) <= set(d.weight_idx) and set(seen_a) <= set(d.alpha_idx)
  assert len(set(seen_a)) == len(seen_a) == 200  # the smaller part once per epoch


def test_shared_streams_cover_the_whole_set_in_different_orders(dataset):
  d = data_lib.SearchData(
    dataset, _plain(split_policy="shared", train_limit=600), seed=1, batch_size=50
  )
  assert d.steps_per_epoch == 12
  assert np.array_equal(d.weight_idx, np.arange(600)) and np.array_equal(d.alpha_idx, d.weight_idx)
  for epoch in (0, 2):
    seen_w, seen_a = _rows_of_epoch(d, dataset, epoch)
    assert sorted(seen_w) == sorted(seen_a) == list(range(600))  # each stream: every example once
    assert np.mean(seen_w == seen_a) < 0.05  # independent orders, not one stream twice
    for k in range(0, 600, 50):  # a step's two batches differ
      assert set(seen_w[k : k + 50]) != set(seen_a[k : k + 50])
  assert not np.array_equal(_rows_of_epoch(d, dataset, 1)[0], _rows_of_epoch(d, dataset, 2)[0])


def test_reshuffle_cuts_afresh_every_epoch_and_recomputes_on_resume(dataset):
  cfg = _plain(split_policy="reshuffle", split_ratio=0.5, train_limit=500)
  d = data_lib.SearchData(dataset, cfg, seed=4, batch_size=50)
  fixed = data.split_indices(500, 4, "ratio", 0.5)
  assert all(np.array_equal(p, q) for p, q in zip(d.split(0), fixed, strict=True))
  parts = [d.split(epoch) for epoch in range(6)]
  for w, a in parts:
    assert (len(w), len(a)) == (250, 250)
    assert not set(w) & set(a) and set(w) | set(a) == set(range(500))
  assert len({w.tobytes() for w, _ in parts}) == 6  # a different cut each epoch
  # Over the run examples serve both roles (all but ~2/2**6 of them after 6 epochs).
  as_weight = set().union(*(set(w) for w, _ in parts))
  as_alpha = set().union(*(set(a) for _, a in parts))
  assert len(as_weight & as_alpha) > 450
  for epoch in (0, 3):
    seen_w, seen_a = _rows_of_epoch(d, dataset, epoch)
    w, a = parts[epoch]
    assert sorted(seen_w) == sorted(w) and sorted(seen_a) == sorted(a)  # disjoint within the epoch
  # A resumed run (a fresh object, first asked for a late step) reads the same batches.
  resumed = data_lib.SearchData(dataset, cfg, seed=4, batch_size=50)
  for step in (4 * d.steps_per_epoch + 3, d.steps_per_epoch + 1):
    (t1, v1), (t2, v2) = d.batch(step), resumed.batch(step)
    assert np.array_equal(t1["image"], t2["image"]) and np.array_equal(v1["image"], v2["image"])
  ratio = data_lib.SearchData(dataset, _plain(split_policy="reshuffle", split_ratio=0.7), 0, 64)
  assert ratio.steps_per_epoch == round(5085 * 0.3) // 64
  assert all(len(ratio.split(e)[0]) == round(5085 * 0.7) for e in range(3))


@pytest.mark.parametrize(
  "policy, ratio, message",
  [
    ("disjoint", 0.3, "split_ratio=0.3 needs config.data.split_policy='ratio'"),
    ("shared", 0.7, "split_ratio=0.7 has no effect with config.data.split_policy='shared'"),
    ("halves", 0.5, "config.data.split_policy must be one of"),
    ("ratio", 1.0, r"config.data.split_ratio must be a number in \(0, 1\)"),
    ("reshuffle", 0.0, r"config.data.split_ratio must be a number in \(0, 1\)"),
  ],
)
def test_bad_split_combinations_are_config_errors(policy, ratio, message, dataset):
  from nasjax.config.search import validate_search_config

  config = search_config()
  config.data.split_policy, config.data.split_ratio = policy, ratio
  with pytest.raises(ConfigError, match=message) as e:
    validate_search_config(config)
  assert str(e.value).count(". ") == 0 and "\n" not in str(e.value)  # one sentence
  with pytest.raises(ConfigError, match=message):
    data.split_indices(100, 0, policy, ratio)
  with pytest.raises(ConfigError, match=message):
    data_lib.SearchData(dataset, _cfg(split_policy=policy, split_ratio=ratio), 0, 8)


def test_valid_split_policies_pass_validation():
  from nasjax.config.search import validate_search_config

  for policy, ratio in [("disjoint", 0.5), ("ratio", 0.3), ("shared", 0.5), ("reshuffle", 0.6)]:
    config = search_config()
    config.data.split_policy, config.data.split_ratio = policy, ratio
    validate_search_config(config)


def test_batches_are_a_pure_function_of_seed_and_step(dataset):
  one = data_lib.SearchData(dataset, _cfg(), seed=3, batch_size=64)
  two = data_lib.SearchData(dataset, _cfg(), seed=3, batch_size=64)
  other = data_lib.SearchData(dataset, _cfg(), seed=4, batch_size=64)
  assert one.steps_per_epoch == 2542 // 64
  for step in (0, 5, one.steps_per_epoch, 3 * one.steps_per_epoch + 7):
    (t1, v1), (t2, v2) = one.batch(step), two.batch(step)
    assert np.array_equal(t1["image"], t2["image"]) and np.array_equal(v1["label"], v2["label"])
    assert not np.array_equal(t1["image"], other.batch(step)[0]["image"])
  # The prefetching iterator yields exactly the same batches.
  for step, (t, v) in zip(range(5, 9), one.batches(5, 9), strict=True):
    ref_t, ref_v = two.batch(step)
    assert np.array_equal(t["image"], ref_t["image"]) and np.array_equal(v["image"], ref_v["image"])


def test_an_epoch_visits_each_half_once_without_mixing(dataset):
  d = data_lib.SearchData(
    dataset,
    _cfg(augment=ml_collections.ConfigDict(dict(crop_padding=0, flip=False, cutout=0))),
    seed=0,
    batch_size=100,
  )
  w_rows, a_rows = set(d.weight_idx), set(d.alpha_idx)
  seen_w, seen_a = [], []
  x = datasets.normalize(dataset.x_train, "cifar10")
  lookup = {x[i].tobytes(): i for i in range(len(x))}
  for step in range(d.steps_per_epoch):
    t, v = d.batch(step)
    seen_w += [lookup[img.tobytes()] for img in t["image"]]
    seen_a += [lookup[img.tobytes()] for img in v["image"]]
  assert set(seen_w) <= w_rows and set(seen_a) <= a_rows
  assert len(set(seen_w)) == len(seen_w) == d.steps_per_epoch * 100


def test_processes_take_disjoint_rows_of_the_global_batch(dataset):
  whole = data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=64)
  parts = [
    data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=64, process_index=p, process_count=4)
    for p in range(4)
  ]
  t, _ = whole.batch(11)
  stacked = np.concatenate([p.batch(11)[0]["image"] for p in parts])
  assert np.array_equal(stacked, t["image"])
  with pytest.raises(ConfigError, match="divisible"):
    data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=30, process_count=4)


def test_augmentation_crops_and_flips():
  images = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1) + 1
  rng = np.random.default_rng(0)
  out = data_lib.augment(images, rng, crop_padding=2, flip=False)
  padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
  dy, dx = np.random.default_rng(0).integers(0, 5, size=(2, 2))
  for i in range(2):
    assert np.array_equal(out[i], padded[i, dy[i] : dy[i] + 4, dx[i] : dx[i] + 4])
  flipped = data_lib.augment(images, np.random.default_rng(1), crop_padding=0, flip=True)
  mirror = np.random.default_rng(1).random(2) < 0.5
  for i in range(2):
    assert np.array_equal(flipped[i], images[i, :, ::-1] if mirror[i] else images[i])


def test_cutout_zeroes_a_square():
  x = np.ones((3, 32, 32, 3), np.float32)
  out = data_lib.cutout(x, np.random.default_rng(0), 16)
  zeros = (out[..., 0] == 0).sum(axis=(1, 2))
  assert np.all(zeros <= 256) and np.all(zeros >= 64)  # clipped at the border at worst
  assert np.all(out[out != 0] == 1)


def test_normalisation_uses_the_dataset_statistics(dataset):
  x = datasets.normalize(dataset.x_train[:2000], "cifar10")
  assert np.allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=0.05)
  assert np.allclose(x.std(axis=(0, 1, 2)), 1.0, atol=0.05)


def test_eval_batches_cover_the_split_once(dataset):
  d = data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=64)
  batches = list(d.eval_batches(256))
  assert len(batches) == 4 and all(b["image"].shape[0] == 256 for b in batches)
  assert sum(b["weight"].sum() for b in batches) == 1017
  last = batches[-1]
  assert np.array_equal(last["label"][last["weight"] == 0], dataset.y_test[: 1024 - 1017])
  assert sum(b["weight"].sum() for b in d.eval_batches(100, limit=250)) == 250


def test_npz_source_and_its_errors(tmp_path, monkeypatch):
  monkeypatch.delenv("NASJAX_DATA_DIR", raising=False)
  monkeypatch.setattr(files, "CHECKOUT_DATA_DIR", tmp_path / "no_checkout_data")
  monkeypatch.setattr(files, "USER_DATA_DIR", tmp_path / "no_user_data")
  with pytest.raises(DataNotFoundError, match="none was found.*no_checkout_data.*no_user_data"):
    datasets.load_npz("$NASJAX_DATA_DIR/cifar10_subset.npz")
  with pytest.raises(DataNotFoundError, match="not found"):
    datasets.load_npz(str(tmp_path / "missing.npz"))
  np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 4, 4, 3), np.uint8))
  with pytest.raises(DataNotFoundError, match="y_train"):
    datasets.load_npz(str(tmp_path / "partial.npz"))
  (tmp_path / "junk.npz").write_bytes(b"junk")
  with pytest.raises(DataNotFoundError, match="cannot read"):
    datasets.load_npz(str(tmp_path / "junk.npz"))


def test_the_data_folder_is_found_in_order(tmp_path, monkeypatch):
  """$NASJAX_DATA_DIR, then the folder beside the checkout, then the per-user folder."""
  env, checkout, user = (tmp_path / n for n in ("env", "checkout", "user"))
  monkeypatch.setattr(files, "CHECKOUT_DATA_DIR", checkout)
  monkeypatch.setattr(files, "USER_DATA_DIR", user)
  monkeypatch.delenv("NASJAX_DATA_DIR", raising=False)
  assert files.data_dir() is None  # neither place exists
  for folder in (user, checkout):  # the checkout's takes precedence over the user's
    folder.mkdir()
    assert files.data_dir() == folder
    assert files.expand("$NASJAX_DATA_DIR/sr/Set5") == folder / "sr" / "Set5"
    assert files.expand("${NASJAX_DATA_DIR}/x.npz") == folder / "x.npz"
  monkeypatch.setenv("NASJAX_DATA_DIR", str(env))  # a set variable wins, even if missing
  assert files.data_dir() == env
  assert files.expand("$NASJAX_DATA_DIR/x.npz") == env / "x.npz"


def test_the_checkout_data_folder_is_beside_the_repository():
  assert REPO.parent / "shared" / "data" == files.CHECKOUT_DATA_DIR


def test_real_subset_loads(cifar_subset, monkeypatch):
  ds = datasets.load_dataset(_cfg(source="npz"))
  assert ds.x_train.shape == (5085, 32, 32, 3) and ds.num_classes == 10
  assert np.array_equal(ds.y_test[:10], [3, 8, 8, 0, 6, 6, 1, 6, 3, 1])


def test_missing_tfds_dataset_names_the_fix(tmp_path):
  with pytest.raises(DataNotFoundError, match="not available from tensorflow-datasets") as e:
    datasets.load_tfds("cifar10", data_dir=str(tmp_path), download=False)
  assert "tfds build cifar10 --data_dir=DIR" in str(e.value)
  with pytest.raises(ConfigError, match="config.data.name"):
    datasets.load_tfds("mnist", data_dir=str(tmp_path))


def _prepare_tfds_cifar10(folder, arrays, monkeypatch):
  """A tfds ``cifar10`` folder in the array_record format, written by tfds' own builder."""
  import tensorflow_datasets as tfds
  from PIL import Image

  def png(image):  # encoded here, so that preparing needs no TensorFlow either
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    return buffer.getvalue()

  def examples(split):
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    for i in range(len(x)):
      yield f"{split}_{i}", {"id": f"{split}_{i}", "image": png(x[i]), "label": int(y[i])}

  builder_cls = tfds.builder_cls("cifar10")
  monkeypatch.setattr(
    builder_cls, "_split_generators", lambda self, dl: {s: examples(s) for s in ("train", "test")}
  )
  builder_cls(data_dir=str(folder), file_format="array_record").download_and_prepare()


def test_prepared_tfds_folder_reads_without_tensorflow(cifar_subset, tmp_path, monkeypatch):
  # Where TensorFlow is not installed (as in CI), this is the TF-free path end to end.
  arrays = {
    "x_train": cifar_subset["x_train"][:300],
    "y_train": cifar_subset["y_train"][:300],
    "x_test": cifar_subset["x_test"][:100],
    "y_test": cifar_subset["y_test"][:100],
  }
  _prepare_tfds_cifar10(tmp_path / "tfds", arrays, monkeypatch)
  read = datasets.load_dataset(_cfg(source="tfds", name="cifar10", data_dir=str(tmp_path / "tfds")))
  read = {k: getattr(read, k) for k in arrays}

  def rows(x, y):  # tfds shuffles the records: compare (image, label) multisets
    return sorted(xi.tobytes() + int(yi).to_bytes(1, "little") for xi, yi in zip(x, y, strict=True))

  for split in ("train", "test"):
    x, y = read[f"x_{split}"], read[f"y_{split}"]
    assert x.dtype == np.uint8 and y.dtype == np.int32 and x.shape == arrays[f"x_{split}"].shape
    assert rows(x, y) == rows(arrays[f"x_{split}"], arrays[f"y_{split}"])

  (info,) = (tmp_path / "tfds").rglob("dataset_info.json")
  if importlib.util.find_spec("tensorflow") is None:  # a TFRecord folder needs TensorFlow
    record = json.loads(info.read_text())
    info.write_text(json.dumps({**record, "fileFormat": "tfrecord"}))
    with pytest.raises(DataNotFoundError, match="prepared as TFRecords, which need tensorflow"):
      datasets.load_tfds("cifar10", data_dir=str(tmp_path / "tfds"))
  info.unlink()  # a half-prepared folder
  with pytest.raises(DataNotFoundError, match="not available from tensorflow-datasets"):
    datasets.load_tfds("cifar10", data_dir=str(tmp_path / "tfds"))


def test_half_batches_cover_a_half_once_with_weights(dataset):
  d = data_lib.SearchData(dataset, _cfg(), seed=0, batch_size=64)
  batches = list(d.half_batches("alpha", 100, limit=250))
  assert [len(b["label"]) for b in batches] == [100, 100, 100]
  weights = np.concatenate([b["weight"] for b in batches])
  assert weights.sum() == 250 and np.all(weights[250:] == 0)
  labels = np.concatenate([b["label"] for b in batches])[:250]
  np.testing.assert_array_equal(labels, dataset.y_train[d.alpha_idx[:250]])
  small = list(d.half_batches("weight", 512, limit=40))  # a half smaller than the batch
  assert len(small) == 1 and small[0]["image"].shape[0] == 40 and small[0]["weight"].all()


def test_downsample_averages_blocks_of_the_real_images(cifar_subset):
  small = datasets.load_dataset(_cfg(source="npz", downsample=2))
  assert small.x_train.shape == (5085, 16, 16, 3) and small.x_test.shape == (1017, 16, 16, 3)
  blocks = cifar_subset["x_test"][7, 4:6, 10:12].astype(np.float64)  # pixel (2, 5) of image 7
  np.testing.assert_array_equal(small.x_test[7, 2, 5], np.round(blocks.mean((0, 1))))
  np.testing.assert_array_equal(small.y_train, cifar_subset["y_train"])
  with pytest.raises(ConfigError, match="does not divide the 32x32 images"):
    datasets.downsample(cifar_subset["x_test"][:2], 3)
  config = search_config()
  config.data.downsample = 0
  with pytest.raises(ConfigError, match="config.data.downsample must be an integer >= 1"):
    validate_search_config(config)
