"""Every data source is checked as it is loaded: one sentence naming the file, the problem, the fix.

The bad files are built in ``tmp_path`` from the real data (the CIFAR-10
subset, the NAS-Bench-201 table, Set5, CamVid); the loading functions are
called directly, so nothing here compiles a network.
"""

import csv
import gzip
import io
import shutil

import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.config.search import search_config
from nasjax.errors import ConfigError, DataNotFoundError
from nasjax.spaces.nb201.benchmark import BenchmarkTableError, NB201Table
from nasjax.tasks.classification import datasets
from nasjax.tasks.segmentation import images as seg_images
from nasjax.tasks.super_resolution import data as sr_data
from nasjax.tasks.super_resolution import images as sr_images

KEYS = ("x_train", "y_train", "x_test", "y_test")


@pytest.fixture(scope="module")
def small(cifar_subset):
  """The first 200 training and 100 test images of the real subset."""
  return {k: v[:200] if k.endswith("train") else v[:100] for k, v in cifar_subset.items()}


def write_npz(path, arrays, compressed=False, **changes):
  (np.savez_compressed if compressed else np.savez)(path, **{**arrays, **changes})
  return str(path)


def load_error(path, error=DataNotFoundError, name="cifar10"):
  with pytest.raises(error) as e:
    datasets.load_npz(str(path), name)
  message = str(e.value)
  assert "\n" not in message and str(path) in message
  return message


# --- classification: the seven reported cases -----------------------------------------------


def test_label_count_that_does_not_match_the_images(cifar_subset, tmp_path):
  path = write_npz(tmp_path / "x.npz", cifar_subset, y_train=cifar_subset["y_train"][:100])
  message = load_error(path)
  assert "holds 100 labels for 5085 images in y_train; every image needs one label" in message


def test_greyscale_28x28_images(small, tmp_path):
  grey = {k: small[k][:, 2:30, 2:30, :1] for k in ("x_train", "x_test")}
  message = load_error(write_npz(tmp_path / "x.npz", small, **grey))
  assert "holds 28x28x1 images in x_train" in message and "needs 3 channels" in message


def _damaged(raw: bytes) -> bytes:
  data = bytearray(raw)
  data[len(data) // 3] ^= 0xFF  # inside x_train's pixels
  return bytes(data)


@pytest.mark.parametrize(
  "kind, fragment",
  [
    ("empty", "it is empty (0 bytes)"),
    ("truncated", "its zip directory is missing, so the file is truncated"),
    ("bad_crc", "its array x_train is damaged (BadZipFile: Bad CRC-32"),
    ("compressed_bad_crc", "its array x_train is damaged"),
    ("npy", "it is a .npy file holding a single array"),
  ],
)
def test_empty_truncated_or_damaged_file(small, tmp_path, kind, fragment):
  good = tmp_path / "good.npz"
  write_npz(good, small, compressed=kind.startswith("compressed"))
  raw = good.read_bytes()
  if kind == "npy":
    buffer = io.BytesIO()
    np.save(buffer, small["x_train"])
  contents = {
    "empty": b"",
    "truncated": raw[: len(raw) // 2],
    "bad_crc": _damaged(raw),
    "compressed_bad_crc": _damaged(raw),
    "npy": buffer.getvalue() if kind == "npy" else b"",
  }[kind]
  bad = tmp_path / "x.npz"
  bad.write_bytes(contents)
  message = load_error(bad)
  assert message.startswith(f"cannot read {bad} as a .npz file: ") and fragment in message
  assert "np.savez(path, x_train=..." in message


def test_text_file_named_npz(tmp_path):
  path = tmp_path / "x.npz"
  path.write_text("x_train,y_train\n0,1\n")
  message = load_error(path)
  assert "it is not a zip archive (it starts with b'x_train,')" in message
  assert "allow_pickle" not in message


@pytest.mark.parametrize("key, value", [("y_train", 10), ("y_test", -1)])
def test_labels_outside_the_classes(small, tmp_path, key, value):
  labels = small[key].astype(np.int64)
  labels[7] = value
  message = load_error(write_npz(tmp_path / "x.npz", small, **{key: labels}))
  assert f"holds label {value} in {key}, outside [0, 10) for cifar10's 10 classes" in message


def test_test_images_of_another_size(small, tmp_path):
  path = write_npz(tmp_path / "x.npz", small, x_test=datasets.downsample(small["x_test"], 2))
  message = load_error(path)
  assert "holds 32x32x3 images in x_train but 16x16x3 images in x_test" in message


def _table_rows(path):
  with gzip.open(path, "rt") as f:
    return list(csv.reader(f))


def _write_table(path, rows):
  with gzip.open(path, "wt", newline="") as f:
    csv.writer(f).writerows(rows)
  return path


def test_nb201_table_of_100_rows_fails_at_load(nb201_table_path, tmp_path):
  path = _write_table(tmp_path / "nb201.csv.gz", _table_rows(nb201_table_path)[:101])
  with pytest.raises(BenchmarkTableError) as e:
    NB201Table.load(path)
  assert f"{path} holds 100 architectures, but NAS-Bench-201 has 15625" in str(e.value)
  assert "config.nb201_table='none'" in str(e.value)


# --- classification: more bad files -----------------------------------------------------------


@pytest.mark.parametrize(
  "change, fragment",
  [
    (lambda a: {"y_train": a["y_train"][:, None]}, "holds y_train of shape (200, 1); labels must"),
    (lambda a: {"y_test": a["y_test"].astype(np.float32)}, "holds y_test of dtype float32"),
    (lambda a: {"x_train": a["x_train"] / 255.0}, "holds x_train of dtype float64"),
    (lambda a: {"x_test": a["x_test"][..., 0]}, "holds x_test of shape (100, 32, 32), not images"),
    (lambda a: {"x_test": a["x_test"][:0], "y_test": a["y_test"][:0]}, "holds no image in x_test"),
  ],
)
def test_arrays_of_the_wrong_shape_or_dtype(small, tmp_path, change, fragment):
  assert fragment in load_error(write_npz(tmp_path / "x.npz", small, **change(small)))


def test_missing_or_pickled_arrays(small, tmp_path):
  path = tmp_path / "x.npz"
  np.savez(path, x_train=small["x_train"], y_train=small["y_train"])
  assert "lacks the array(s) ['x_test', 'y_test']" in load_error(path)
  np.savez(path, **{**small, "y_test": np.array([1, "a"], dtype=object)})
  assert "its array y_test holds Python objects" in load_error(path)


def test_image_size_the_config_states(cifar_subset):
  data_dir()
  cfg = search_config().data
  cfg.update(source="npz", downsample=2)
  cfg.image_size = 32
  with pytest.raises(ConfigError, match="config.data.image_size=32 but the images are 16x16"):
    datasets.load_dataset(cfg)


def test_the_real_subset_loads_unchanged(cifar_subset):
  dataset = datasets.load_npz(str(data_dir() / "cifar10_subset.npz"), "cifar10")
  assert dataset.num_classes == 10 and dataset.name == "cifar10"
  for key in KEYS:
    loaded, raw = getattr(dataset, key), cifar_subset[key]
    assert loaded.dtype == (np.uint8 if key.startswith("x") else np.int32)
    np.testing.assert_array_equal(loaded, raw)


# --- NAS-Bench-201 table: more bad files -------------------------------------------------------


def test_nb201_tables_with_bad_columns_rows_or_bytes(nb201_table_path, tmp_path):
  rows = _table_rows(nb201_table_path)
  header, body = rows[0], rows[1:]
  keep = [i for i, column in enumerate(header) if column != "cifar100_test_acc"]
  cases = {
    "no_column": [[r[i] for i in keep] for r in rows],
    "swapped": [header, body[1], body[0], *body[2:]],
    "short_row": [header, *body[:5], body[5][:-3], *body[6:]],
    "twice": [header, *body[:-1], [str(len(body) - 1), *body[0][1:]]],
  }  # fmt: skip
  fragments = {
    "no_column": "is not a NAS-Bench-201 table: it lacks column(s) ['cifar100_test_acc']",
    "swapped": "data row 0 has index 1, but the rows must be the architectures 0..15624",
    "short_row": "data row 5 is malformed (it does not have one value per column)",
    "twice": "lists 1 architecture(s) twice",
  }
  for name, table in cases.items():
    path = _write_table(tmp_path / f"{name}.csv.gz", table)
    with pytest.raises(BenchmarkTableError) as e:
      NB201Table.load(path)
    assert str(path) in str(e.value) and fragments[name] in str(e.value), name
  truncated = tmp_path / "truncated.csv.gz"
  truncated.write_bytes(nb201_table_path.read_bytes()[:5000])
  with pytest.raises(BenchmarkTableError, match=r"cannot read NAS-Bench-201 table .*truncated"):
    NB201Table.load(truncated)
  assert len(NB201Table.load(nb201_table_path)) == 15625


# --- super-resolution folders ------------------------------------------------------------------


@pytest.fixture
def set5_copy(tmp_path):
  folder = tmp_path / "Set5"
  shutil.copytree(data_dir() / "sr" / "Set5", folder)
  return folder


@pytest.mark.parametrize(
  "contents, fragment",
  [
    (b"", "cannot read {f} as an image (UnidentifiedImageError"),
    ("text", "cannot read {f} as an image (UnidentifiedImageError"),
    ("truncated", "cannot read {f} as an image (OSError: image file is truncated"),
  ],
)
def test_sr_folder_with_an_unreadable_image(set5_copy, contents, fragment):
  f = set5_copy / "bird.png"
  if contents == "truncated":
    contents = f.read_bytes()[:20000]
  elif contents == "text":
    contents = b"not a png\n"
  f.write_bytes(contents)
  with pytest.raises(DataNotFoundError) as e:
    sr_images.load_folder(str(set5_copy), 2)
  assert fragment.format(f=f) in str(e.value) and "remove it from" in str(e.value)


def test_sr_folder_with_a_16bit_or_tiny_image(set5_copy):
  bird = np.asarray(Image.open(set5_copy / "bird.png"))
  Image.fromarray(bird[..., 0].astype(np.uint16) * 257).save(set5_copy / "bird.png")
  with pytest.raises(DataNotFoundError, match=r"bird.png is a I;16 image .* clipped to 255"):
    sr_images.load_folder(str(set5_copy), 2)
  Image.fromarray(bird[:2, :2]).save(set5_copy / "bird.png")
  with pytest.raises(DataNotFoundError, match=r"bird.png is 2x2 pixels, smaller than the scale 3"):
    sr_images.load_folder(str(set5_copy), 3)


def test_sr_folder_that_is_a_file_or_empty(set5_copy, tmp_path):
  with pytest.raises(DataNotFoundError, match="is a file, not a folder"):
    sr_images.load_folder(str(set5_copy / "bird.png"), 2)
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataNotFoundError, match="holds no image"):
    sr_images.load_folder(str(tmp_path / "empty"), 2)


def test_sr_pairs_must_match_the_scale_and_the_patch(set5_copy):
  images = sr_images.load_folder(str(set5_copy), 2)
  with pytest.raises(DataNotFoundError, match=r"SR image baby: .* not 2 times smaller"):
    sr_images.SRImages(images.hr, [lr[1:] for lr in images.lr], images.names, 2)
  with pytest.raises(DataNotFoundError, match="holds 5 HR images, 4 LR images"):
    sr_images.SRImages(images.hr, images.lr[:4], images.names, 2)
  cfg = sr_data.sr_data_config()
  cfg.patch_size = 300
  with pytest.raises(ConfigError, match=r"smallest training image \(woman, 228 HR pixels"):
    sr_data.SRSearchData(images, cfg, 0, 4)


# --- segmentation lists ------------------------------------------------------------------------


@pytest.fixture
def camvid_copy(tmp_path):
  """Three real CamVid pairs copied into ``tmp_path``, listed in ``train.txt``."""
  source = data_dir() / "seg" / "camvid"
  lines = (source / "train.txt").read_text().splitlines()[:3]
  for line in lines:
    for rel in line.split():
      (tmp_path / rel).parent.mkdir(exist_ok=True)
      shutil.copy(source / rel, tmp_path / rel)
  (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
  return tmp_path, [line.split() for line in lines]


def _load_camvid(folder):
  return seg_images.load_seg_folder(str(folder), "train.txt", 11, void_label=11)


def test_seg_label_of_another_size(camvid_copy):
  folder, pairs = camvid_copy
  label = folder / pairs[1][1]
  Image.fromarray(np.asarray(Image.open(label))[:300]).save(label)
  with pytest.raises(DataNotFoundError) as e:
    _load_camvid(folder)
  assert f"train.txt:2: label {label} is 300x480 but image {folder / pairs[1][0]} is 360x480" in (
    str(e.value)
  )


@pytest.mark.parametrize("which", [0, 1])
def test_seg_unreadable_image_or_label(camvid_copy, which):
  folder, pairs = camvid_copy
  broken = folder / pairs[2][which]
  broken.write_bytes(broken.read_bytes()[:3000] if which == 0 else b"")
  with pytest.raises(DataNotFoundError) as e:
    _load_camvid(folder)
  assert f"train.txt:3: cannot read {broken} as an image (" in str(e.value)
  assert "replace it or fix the list" in str(e.value)


def test_seg_counts_16bit_images_and_unreadable_lists(camvid_copy):
  folder, pairs = camvid_copy
  good = _load_camvid(folder)
  assert len(good) == 3 and good.images[0].shape == (360, 480, 3)
  with pytest.raises(DataNotFoundError, match="holds 3 images, 2 labels and 3 names"):
    seg_images.SegImages(good.images, good.labels[:2], good.names, 11)
  image = folder / pairs[0][0]
  grey = np.asarray(Image.open(image))[..., 0].astype(np.uint16) * 257
  Image.fromarray(grey).save(image)
  with pytest.raises(DataNotFoundError, match=r"train.txt:1: .* is a I;16 image"):
    _load_camvid(folder)
  (folder / "train.txt").write_bytes(b"\xff\xfe\x00binary")
  with pytest.raises(DataNotFoundError, match="cannot read list file .*train.txt"):
    _load_camvid(folder)
