"""MATLAB-style bicubic resizing: hand-computed weights, Pillow on real Set5 images, invariants."""

import math
import time

import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.tasks.super_resolution import imresize as ir

# Halving with antialiasing: the kernel is 0.5 * cubic(d / 2) at d = +-0.5, +-1.5, +-2.5, +-3.5:
# 0.5 * cubic(0.25) = 111/256, 0.5 * cubic(0.75) = 29/256, 0.5 * cubic(1.25) = -9/256,
# 0.5 * cubic(1.75) = -3/256 (a = -0.5); they already sum to 1.
HALVING_WEIGHTS = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256.0
# Output pixel j (1-based) of 8 -> 4 samples u = 2j - 0.5, taps 2j-4 .. 2j+3, mirrored at the
# edges with the edge pixel repeated (0 -> 1, -1 -> 2, -2 -> 3, 9 -> 8, 10 -> 7, 11 -> 6).
HALVING_TAPS = [
  [3, 2, 1, 1, 2, 3, 4, 5],
  [1, 1, 2, 3, 4, 5, 6, 7],
  [2, 3, 4, 5, 6, 7, 8, 8],
  [4, 5, 6, 7, 8, 8, 7, 6],
]
ROW = np.array([10.0, 20.0, 40.0, 80.0, 160.0, 200.0, 220.0, 250.0])


def test_halving_weights_and_taps_by_hand():
  weights, indices = ir._contributions(8, 4, 0.5)
  np.testing.assert_allclose(weights, np.tile(HALVING_WEIGHTS, (4, 1)), rtol=0, atol=1e-15)
  np.testing.assert_array_equal(indices + 1, HALVING_TAPS)


def test_halving_a_row_and_a_column_by_hand():
  expected = np.array([HALVING_WEIGHTS @ ROW[np.array(t) - 1] for t in HALVING_TAPS])
  np.testing.assert_allclose(ir.imresize(ROW[None, :], output_shape=(1, 4))[0], expected)
  np.testing.assert_allclose(ir.imresize(ROW[:, None], output_shape=(4, 1))[:, 0], expected)
  # uint8 in, uint8 out: rounded half up and clipped.
  got = ir.imresize(ROW.astype(np.uint8)[None, :], output_shape=(1, 4))
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got[0], np.clip(np.floor(expected + 0.5), 0, 255))


def test_output_size_is_the_ceiling_and_axes_resize_smaller_scale_first():
  img = np.zeros((7, 9, 3), np.float32)
  assert ir.imresize(img, 0.5).shape == (4, 5, 3)
  assert ir.imresize(img, 2).dtype == np.float64
  hr = ir.crop_to_multiple(np.asarray(Image.open(data_dir() / "sr/Set5/baby.png")), 4)
  h, w = hr.shape[:2]
  both = ir.imresize(hr, output_shape=(h // 2, w // 4))
  columns_then_rows = ir.imresize(
    ir.imresize(hr, output_shape=(h, w // 4)), output_shape=(h // 2, w // 4)
  )
  rows_then_columns = ir.imresize(
    ir.imresize(hr, output_shape=(h // 2, w)), output_shape=(h // 2, w // 4)
  )
  np.testing.assert_array_equal(both, columns_then_rows)
  assert (both != rows_then_columns).any()  # the order matters with uint8 rounding in between


def test_constant_stays_constant_and_scale_one_is_identity():
  for scale in (2, 3, 4, 0.5, 1 / 3):
    assert (ir.imresize(np.full((6, 5, 3), 77, np.uint8), scale) == 77).all()
    np.testing.assert_allclose(ir.imresize(np.full((6, 5), 0.3), scale), 0.3, rtol=0, atol=1e-12)
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (9, 11, 3)).astype(np.uint8)
  np.testing.assert_array_equal(ir.imresize(img, 1.0), img)
  np.testing.assert_array_equal(ir.imresize(img / 255.0, output_shape=(9, 11)), img / 255.0)


def test_crop_and_downsample_shapes():
  img = np.full((13, 17, 3), 5, np.uint8)
  assert ir.crop_to_multiple(img, 3).shape == (12, 15, 3)
  lr = ir.downsample(img, 3)
  assert lr.shape == (4, 5, 3) and lr.dtype == np.uint8 and (lr == 5).all()
  with pytest.raises(ValueError, match="exactly one"):
    ir.imresize(img)
  with pytest.raises(ValueError, match="exactly one"):
    ir.imresize(img, 2, output_shape=(4, 4))
  with pytest.raises(ValueError, match="positive integer"):
    ir.downsample(img, 1.5)


def _set5(scale):
  for path in sorted((data_dir() / "sr/Set5").glob("*.png")):
    hr = ir.crop_to_multiple(np.asarray(Image.open(path).convert("RGB")), scale)
    h, w = hr.shape[:2]
    pil = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.Resampling.BICUBIC))
    yield hr, pil.astype(int)


def _agreement(mine, pil, border=3):
  d = np.abs(mine.astype(int) - pil)[border:-border, border:-border]
  return (d <= 1).mean(), d.mean()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_agrees_with_pillow_on_set5(scale):
  """Pillow uses the same antialiased a=-0.5 kernel but clips taps at the image edge instead of
  mirroring, and resizes columns first; away from the edge, in its axis order, the result is
  identical, and in MATLAB's order it is within one grey level almost everywhere. A wrong kernel
  (a=-0.75), no antialiasing or a half-pixel offset is far off."""
  for hr, pil in _set5(scale):
    h, w = hr.shape[:2]
    out = (h // scale, w // scale)
    same_order = ir._resize(hr, None, out, columns_first=True).astype(int)
    np.testing.assert_array_equal(same_order[2:-2, 2:-2], pil[2:-2, 2:-2])
    within_one, mean = _agreement(ir.downsample(hr, scale), pil)
    assert within_one >= 0.999 and mean < 0.25, (within_one, mean)
    for wrong in (dict(a=-0.75), dict(antialias=False), dict(shift=0.5)):
      within_one, mean = _agreement(ir._resize(hr, None, out, **wrong), pil)
      assert within_one < 0.99 and mean > 0.35, (wrong, within_one, mean)


def test_upscaling_interpolates_the_samples():
  """Upscaling by 2 without antialiasing: each output pixel sits a quarter pixel from an input
  pixel, taps at distances 1.25, 0.25, 0.75, 1.75 (weights -0.0703125, 0.8671875, 0.2265625,
  -0.0234375)."""
  out = ir.imresize(ROW[None, :], output_shape=(1, 16))[0]
  w = np.array([-0.0703125, 0.8671875, 0.2265625, -0.0234375])
  # Output pixel 6 (1-based): u = 3.25 -> taps 2, 3, 4, 5; pixel 7: u = 3.75 -> taps 5, 4, 3, 2.
  assert math.isclose(out[5], w @ ROW[[1, 2, 3, 4]])
  assert math.isclose(out[6], w @ ROW[[4, 3, 2, 1]])


def test_a_2k_image_resizes_quickly():
  img = np.random.default_rng(0).integers(0, 256, (1356, 2040, 3)).astype(np.uint8)
  ir.downsample(img[:64, :64], 2)
  start = time.perf_counter()
  lr = ir.downsample(img, 2)
  assert lr.shape == (678, 1020, 3)
  assert time.perf_counter() - start < 2.0  # about 0.15 s on one core
