"""SR metrics: PSNR and Y by hand, SSIM against a hand value and a window-by-window loop."""

import math

import jax
import numpy as np
import pytest
from conftest import data_dir
from PIL import Image

from nasjax.tasks.super_resolution import metrics as m


@pytest.fixture(scope="module")
def butterfly() -> np.ndarray:
  return np.asarray(Image.open(data_dir() / "sr/Set5/butterfly.png").convert("RGB"))


def test_psnr_of_a_4x4_grey_image_by_hand():
  hr = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
  sr = hr.copy()
  sr[1, 2] += 4
  sr[3, 0] -= 2
  mse = (4**2 + 2**2) / 16  # 1.25
  assert math.isclose(m.psnr(sr, hr, y_channel=False), 10 * math.log10(255**2 / mse))
  assert math.isclose(m.psnr(sr, hr, y_channel=False), 47.161703, rel_tol=1e-7)


def test_psnr_on_luminance_by_hand():
  hr = np.zeros((4, 4, 3), np.uint8)  # Y = 16
  sr = hr.copy()
  sr[2, 2] = 255  # white: Y = 235
  mse = (235 - 16) ** 2 / 16
  assert math.isclose(m.psnr(sr, hr), 10 * math.log10(255**2 / mse))
  # RGB: one pixel off by 255 in all three channels of 48 values.
  assert math.isclose(m.psnr(sr, hr, y_channel=False), 10 * math.log10(255**2 / (3 * 255**2 / 48)))


def test_identical_images_give_inf_and_the_set_mean_leaves_them_out(butterfly):
  assert m.psnr(butterfly, butterfly) == math.inf
  assert m.mean_psnr([30.0, math.inf, 33.0]) == (31.5, 1)
  assert m.mean_psnr([math.inf]) == (math.inf, 1)
  result = m.evaluate_images([butterfly, butterfly[::-1]], [butterfly, butterfly], border=2)
  assert result["identical"] == 1
  assert result["psnr"] == m.psnr(butterfly[::-1], butterfly, border=2)


def test_border_crop_decides(butterfly):
  hr = butterfly[:40, :40]
  sr = hr.copy()
  sr[1, 20] = 255 - sr[1, 20]  # a change inside the two-pixel border only
  assert m.psnr(sr, hr, border=2) == math.inf
  assert m.psnr(sr, hr, border=1) < math.inf
  assert m.ssim(sr, hr, border=2) == 1.0
  assert m.ssim(sr, hr, border=0) < 1.0


def test_float_images_are_quantised_first(butterfly):
  hr = butterfly[:32, :32]
  sr = np.clip(hr.astype(int) + np.arange(32)[:, None, None] % 3 - 1, 0, 255).astype(np.uint8)
  as_float = m.psnr(sr / 255.0 + 0.4 / 255, hr / 255.0, border=2)
  assert as_float == m.psnr(sr, hr, border=2)
  assert m.psnr(hr / 255.0 + 0.49 / 255, hr, y_channel=False) == math.inf
  with pytest.raises(ValueError, match="differ in shape"):
    m.psnr(sr[:30], hr)


def test_y_of_pure_colours_by_hand():
  colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]], np.uint8)
  exact = [16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0, 16.0]
  np.testing.assert_allclose(m.rgb_to_y(colours / 255.0), exact, rtol=0, atol=1e-12)
  np.testing.assert_array_equal(m.rgb_to_y(colours), [81, 145, 41, 235, 16])


def test_ssim_of_two_constant_images_by_hand():
  # Constant images: variances and covariance are 0, so
  # SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
  c1 = (0.01 * 255) ** 2
  a, b = np.full((12, 13), 100, np.uint8), np.full((12, 13), 110, np.uint8)
  assert math.isclose(m.ssim(a, b), (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))


def _ssim_by_windows(a: np.ndarray, b: np.ndarray) -> float:
  """Wang et al.'s mean SSIM, one 11x11 window at a time, with the 2-D Gaussian built directly."""
  yy, xx = np.mgrid[-5:6, -5:6]
  g = np.exp(-(xx**2 + yy**2) / (2 * 1.5**2))
  g /= g.sum()
  c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
  values = []
  for i in range(a.shape[0] - 10):
    for j in range(a.shape[1] - 10):
      wa, wb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
      mu_a, mu_b = (g * wa).sum(), (g * wb).sum()
      var_a = (g * (wa - mu_a) ** 2).sum()
      var_b = (g * (wb - mu_b) ** 2).sum()
      cov = (g * (wa - mu_a) * (wb - mu_b)).sum()
      values.append(
        (2 * mu_a * mu_b + c1) * (2 * cov + c2) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
      )
  return float(np.mean(values))


def test_ssim_matches_a_window_by_window_computation(butterfly):
  hr = butterfly[100:122, 60:80]
  noise = np.random.default_rng(0).normal(0, 12, hr.shape)
  sr = np.clip(np.round(hr + noise), 0, 255).astype(np.uint8)
  expected = _ssim_by_windows(m.rgb_to_y(sr), m.rgb_to_y(hr))
  assert math.isclose(m.ssim(sr, hr), expected, rel_tol=1e-10)
  assert math.isclose(
    m.ssim(sr, hr, border=3),
    _ssim_by_windows(m.rgb_to_y(sr)[3:-3, 3:-3], m.rgb_to_y(hr)[3:-3, 3:-3]),
    rel_tol=1e-10,
  )
  channels = [
    _ssim_by_windows(sr[..., c].astype(float), hr[..., c].astype(float)) for c in range(3)
  ]
  assert math.isclose(m.ssim(sr, hr, y_channel=False), np.mean(channels), rel_tol=1e-10)


def test_ssim_is_one_for_equal_images_symmetric_and_below_one_for_noise(butterfly):
  assert m.ssim(butterfly, butterfly, border=4) == pytest.approx(1.0, abs=1e-12)
  noisy = np.clip(butterfly + np.random.default_rng(1).normal(0, 8, butterfly.shape), 0, 255)
  noisy = noisy.astype(np.uint8)
  forward, backward = m.ssim(noisy, butterfly, border=4), m.ssim(butterfly, noisy, border=4)
  assert forward == pytest.approx(backward, rel=1e-12)
  assert 0.5 < forward < 0.99


def test_psnr_batch_per_example_rgb():
  hr = np.random.default_rng(2).integers(20, 200, (3, 6, 5, 3)) / 255.0
  offsets = np.array([10, 1, 0]) / 255.0
  sr = hr + offsets[:, None, None, None]
  sr[2] = 1.5 * (hr[2] > 0)  # far above 1: clipped to 1
  got = np.asarray(jax.jit(m.psnr_batch)(sr.astype(np.float32), hr.astype(np.float32)))
  assert got.shape == (3,)
  np.testing.assert_allclose(got[:2], [20 * math.log10(25.5), 20 * math.log10(255)], rtol=1e-4)
  np.testing.assert_allclose(got[0], m.psnr(sr[0], hr[0], y_channel=False), rtol=1e-4)
  expected = -10 * math.log10(np.mean((1.0 - hr[2]) ** 2))
  np.testing.assert_allclose(got[2], expected, rtol=1e-4)
