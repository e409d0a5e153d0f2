"""The ImageNet pipeline: transforms on real variable-size images, and a prepared tfds folder."""

import io
import itertools

import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.config.retrain import imagenet_protocol, retrain_config
from nasjax.errors import DataNotFoundError
from nasjax.tasks.classification import imagenet


@pytest.fixture(scope="module")
def set14():
  """The Set14 test images (13 RGB, one greyscale; sizes from 250x361 to 768x512)."""
  files = sorted((data_dir() / "sr" / "Set14").glob("*.png"))
  if len(files) != 14:
    pytest.skip("Set14 images not found in NASJAX_DATA_DIR/sr/Set14")
  return {f.stem: Image.open(f).copy() for f in files}


def test_random_resized_crop_boxes_stay_in_range(set14):
  rng = np.random.default_rng(0)
  for image in set14.values():
    w, h = image.size
    for _ in range(200):
      left, top, cw, ch = imagenet.random_resized_crop_box(w, h, rng)
      assert left >= 0 and left + cw <= w and top >= 0 and top + ch <= h
      # area in [0.08, 1] and aspect ratio in [3/4, 4/3], up to rounding to whole pixels
      assert 0.08 * w * h * 0.97 <= cw * ch <= w * h
      assert 3 / 4 - 2 / ch <= cw / ch <= 4 / 3 + 2 / ch
  # A strip no crop of full area fits: the centre crop of the widest allowed ratio.
  assert imagenet.random_resized_crop_box(720, 40, rng, scale=(1.0, 1.0)) == (333, 0, 53, 40)
  assert imagenet.random_resized_crop_box(40, 720, rng, scale=(1.0, 1.0)) == (0, 333, 40, 53)
  crop = imagenet.random_resized_crop(set14["comic"], rng, 224)
  assert crop.size == (224, 224) and crop.mode == "RGB"


def test_flip_mirrors_half_the_time(set14):
  image = set14["zebra"]
  rng = np.random.default_rng(1)
  flipped, mirrored = 0, None
  for _ in range(2000):
    out = imagenet.random_flip(image, rng)
    if out is not image:
      flipped, mirrored = flipped + 1, out
  assert abs(flipped / 2000 - 0.5) < 0.05
  assert np.array_equal(np.asarray(mirrored), np.asarray(image)[:, ::-1])


def test_color_jitter_factors_and_order():
  rng = np.random.default_rng(2)
  samples = [imagenet.sample_color_jitter(rng, 0.4, 0.4, 0.4, 0.2) for _ in range(2000)]
  orders = {tuple(name for name, _ in s) for s in samples}
  assert len(orders) == 24  # every order of the four transforms
  values = {name: [f for s in samples for n, f in s if n == name] for name, _ in samples[0]}
  for name in ("brightness", "contrast", "saturation"):
    assert 0.6 <= min(values[name]) < 0.62 and 1.38 < max(values[name]) <= 1.4
  assert -0.2 <= min(values["hue"]) < -0.19 and 0.19 < max(values["hue"]) <= 0.2
  assert imagenet.sample_color_jitter(rng, 0.4, 0.0, 0.0, 0.0)[0][0] == "brightness"
  assert imagenet.sample_color_jitter(rng) == []


def test_color_jitter_transforms_on_a_real_image(set14):
  image = set14["pepper"]
  x = np.asarray(image, np.float64)
  bright = np.asarray(imagenet.apply_color_jitter(image, [("brightness", 1.3)]), np.float64)
  assert np.abs(bright - np.clip(x * 1.3, 0, 255)).max() <= 1.0
  grey = np.asarray(imagenet.apply_color_jitter(image, [("saturation", 0.0)]))
  assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
  flat = np.asarray(imagenet.apply_color_jitter(image, [("contrast", 0.0)]))
  assert flat.std() < 1.0  # a uniform grey
  same = np.asarray(imagenet.adjust_hue(image, 0.0), np.float64)
  assert np.abs(same - x).mean() < 2.0  # only the HSV round trip's rounding
  # A third of a turn takes red to green.
  red = (x[..., 0] > x[..., 1] + 60) & (x[..., 0] > x[..., 2] + 60)
  shifted = np.asarray(imagenet.adjust_hue(image, 1 / 3), np.float64)
  green = (shifted[..., 1] > shifted[..., 0]) & (shifted[..., 1] > shifted[..., 2])
  assert red.sum() > 1000 and green[red].mean() > 0.95


def test_resize_and_center_crop(set14):
  landscape = imagenet.resize_center_crop(set14["baboon"], 256, 224)  # 500x480
  expected = set14["baboon"].resize((266, 256), Image.BILINEAR).crop((21, 16, 245, 240))
  assert np.array_equal(np.asarray(landscape), np.asarray(expected))
  portrait = imagenet.resize_center_crop(set14["comic"], 256, 224)  # 250x361
  expected = set14["comic"].resize((256, 369), Image.BILINEAR).crop((16, 72, 240, 296))
  assert np.array_equal(np.asarray(portrait), np.asarray(expected))


def test_train_and_eval_examples(set14):
  cfg = imagenet_protocol(retrain_config()).data
  rng = np.random.default_rng(3)
  for name in ("bridge", "monarch"):  # greyscale and RGB
    x = imagenet.train_image(np.asarray(set14[name]), rng, cfg)
    y = imagenet.eval_image(np.asarray(set14[name]), cfg)
    assert x.shape == y.shape == (224, 224, 3) and x.dtype == y.dtype == np.float32
  y = imagenet.eval_image(np.asarray(set14["lenna"]), cfg)
  raw = np.asarray(imagenet.resize_center_crop(set14["lenna"], 256, 224), np.float32) / 255
  np.testing.assert_allclose(y * imagenet.STD + np.asarray(imagenet.MEAN), raw, atol=1e-6)


def _jpeg(image):
  buffer = io.BytesIO()
  image.convert("RGB").save(buffer, format="jpeg", quality=90)
  return buffer.getvalue()


@pytest.fixture(scope="module")
def prepared(set14, tmp_path_factory):
  """An ``imagenet2012`` folder in the array_record format, written by tfds' own builder.

  The examples are JPEGs of the real Set14 images (10 train, 4 validation);
  only the manual download of the ImageNet archives is skipped.
  """
  import tensorflow_datasets as tfds

  folder = tmp_path_factory.mktemp("tfds")
  names = sorted(set14)
  split_names = {"train": names[:10], "validation": names[10:]}

  def examples(split):
    for i, name in enumerate(split_names[split]):
      record = {"image": _jpeg(set14[name]), "label": 100 * i + 7, "file_name": f"{name}.JPEG"}
      yield name, record

  builder_cls = tfds.builder_cls("imagenet2012")
  mp = pytest.MonkeyPatch()
  mp.setattr(
    builder_cls, "_split_generators", lambda self, dl: {s: examples(s) for s in split_names}
  )
  try:
    builder_cls(data_dir=str(folder), file_format="array_record").download_and_prepare()
  finally:
    mp.undo()
  return folder


def _cfg(folder):
  cfg = imagenet_protocol(retrain_config()).data
  cfg.update(data_dir=str(folder), workers=2)
  return cfg


def test_prepared_folder_reads_and_batches(prepared):
  cfg = _cfg(prepared)
  data = imagenet.ImageNetData.from_config(cfg, seed=0, batch_size=4)
  assert len(data.train_source) == 10 and data.steps_per_epoch == 2
  labels = sorted(int(data.train_source[i]["label"]) for i in range(10))
  assert labels == [100 * i + 7 for i in range(10)]
  batch = data.batch(3)
  assert batch["image"].shape == (4, 224, 224, 3) and batch["image"].dtype == np.float32
  again = imagenet.ImageNetData.from_config(cfg, seed=0, batch_size=4)
  for step, b in zip(range(1, 4), again.batches(1, 4), strict=True):
    assert np.array_equal(b["image"], data.batch(step)["image"])
  assert not np.array_equal(data.batch(0)["image"], data.batch(2)["image"])
  halves = [imagenet.ImageNetData.from_config(cfg, 0, 4, p, 2).batch(3) for p in (0, 1)]
  assert np.array_equal(np.concatenate([h["image"] for h in halves]), batch["image"])
  epoch = list(itertools.chain(*(data.batch(s)["label"] for s in (2, 3))))
  assert len(set(epoch)) == 8  # 8 distinct images of the 10 in an epoch
  evals = list(data.eval_batches(3))
  assert [float(b["weight"].sum()) for b in evals] == [3.0, 1.0]
  assert evals[1]["label"][1:].tolist() == evals[0]["label"][:2].tolist()  # filler at weight 0


def test_missing_imagenet_says_how_to_prepare_it(tmp_path):
  with pytest.raises(DataNotFoundError) as e:
    imagenet.load_split("train", str(tmp_path / "nothing"))
  message = str(e.value)
  assert "tfds build imagenet2012" in message and "--manual_dir" in message
  assert "array_record" in message and "config.data.data_dir" in message


@pytest.mark.slow
def test_imagenet_runlocal_retrain_on_a_prepared_folder(prepared, tmp_path):
  from nasjax.spaces.darts.genotype import DARTS_V2
  from nasjax.tasks.classification import retrain

  module = _load_config()
  config = module.get_config("runlocal")
  config.data.data_dir = str(prepared)
  config.batch_size = 4  # 10 training images: 2 steps per epoch
  config.progress_bar = False
  result = retrain.run(config, DARTS_V2, tmp_path / "run")
  final = (tmp_path / "run" / "final.json").read_text()
  assert result.step == 4 and '"image_size": 224' in final
  assert np.isfinite(result.test["loss"]) and 0 <= result.test["top1"] <= result.test["top5"]


def _load_config():
  import importlib.util

  from conftest import REPO

  path = REPO / "configs" / "retrain" / "imagenet.py"
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
