"""Super-resolution metrics: PSNR and SSIM as published SR results compute them.

The evaluation protocol of the SR literature (EDSR, IMDN and their
successors, following MATLAB scripts):

* both images are quantised to 8 bits (a float image in [0, 1] is scaled by
  255, rounded half up and clipped);
* by default only the luminance is compared: Y of ITU-R BT.601 as MATLAB's
  ``rgb2ycbcr`` computes it for uint8 images, on the 0-255 scale (rounded to
  integers, range [16, 235]);
* ``border`` pixels are cut from each side first -- the scale factor, by the
  usual protocol;
* PSNR = ``10 log10(255^2 / MSE)``, ``inf`` for identical images;
  SSIM is Wang et al. (2004)'s index with an 11x11 Gaussian window
  (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, over the 'valid' part of the
  image, averaged (RGB SSIM: the mean over the three channels).

Averages over a test set leave infinite PSNRs (a perfect reconstruction)
out and count them: :func:`mean_psnr` returns both. :func:`psnr_batch` is a
jit-able RGB PSNR for training logs.

Example:
  >>> import numpy as np
  >>> hr = np.full((4, 4, 3), 100, np.uint8)
  >>> sr = hr.copy(); sr[0, 0] = 110
  >>> round(psnr(sr, hr, y_channel=False), 3)  # MSE = 100 / 16
  40.172
  >>> psnr(hr, hr)
  inf
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

#: BT.601 luma weights of R, G, B in [0, 1], giving Y on the 0-255 scale (plus 16).
Y_WEIGHTS = (65.481, 128.553, 24.966)


def to_uint8(image: np.ndarray) -> np.ndarray:
  """uint8 images unchanged; float images in [0, 1] scaled by 255, rounded half up, clipped."""
  image = np.asarray(image)
  if image.dtype == np.uint8:
    return image
  if not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f"SR images must be uint8 or float in [0, 1], got dtype {image.dtype}")
  return np.clip(np.floor(image.astype(np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)


def rgb_to_y(image: np.ndarray) -> np.ndarray:
  """Luminance Y (ITU-R BT.601, MATLAB's ``rgb2ycbcr``) of an RGB image, on the 0-255 scale.

  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1], so Y
  lies in [16, 235].

  Args:
    image: ``(..., 3)`` RGB, uint8 (0-255) or float (in [0, 1]).

  Returns:
    float64 Y of shape ``image.shape[:-1]`` (a float for one pixel): rounded
    to integers for uint8 input (MATLAB returns uint8 there), exact for float
    input.

  Example:
    >>> rgb_to_y(np.array([255, 0, 0], np.uint8)), rgb_to_y(np.array([1.0, 0.0, 0.0]))
    (81.0, 81.481)
  """
  image = np.asarray(image)
  if image.shape[-1:] != (3,):
    raise ValueError(f"rgb_to_y takes (..., 3) RGB images, got shape {image.shape}")
  rgb = image.astype(np.float64)
  if image.dtype == np.uint8:
    rgb = rgb / 255.0
  y = 16.0 + rgb @ np.asarray(Y_WEIGHTS)
  if image.dtype == np.uint8:
    y = np.floor(y + 0.5)
  return float(y) if y.ndim == 0 else y


def _prepare(sr: np.ndarray, hr: np.ndarray, border: int, y_channel: bool) -> tuple:
  sr, hr = to_uint8(sr), to_uint8(hr)
  if sr.shape != hr.shape:
    raise ValueError(
      f"SR output {sr.shape} and HR image {hr.shape} differ in shape; crop the HR image to a "
      "multiple of the scale (nasjax.tasks.super_resolution.imresize.crop_to_multiple) before "
      "comparing"
    )
  if sr.ndim not in (2, 3):
    raise ValueError(f"SR metrics take HxW or HxWxC images, got shape {sr.shape}")
  if border < 0 or 2 * border >= min(sr.shape[:2]):
    raise ValueError(f"border={border} leaves nothing of an image of shape {sr.shape}")
  if y_channel and sr.ndim == 3 and sr.shape[-1] == 3:
    a, b = rgb_to_y(sr), rgb_to_y(hr)
  else:
    a, b = sr.astype(np.float64), hr.astype(np.float64)
  if border:
    a, b = a[border:-border, border:-border], b[border:-border, border:-border]
  return a, b


def psnr(sr: np.ndarray, hr: np.ndarray, border: int = 0, y_channel: bool = True) -> float:
  """PSNR in dB on the 0-255 scale after quantising to uint8 and cutting ``border`` pixels.

  Args:
    sr: the reconstruction, HxWx3 (or HxW), uint8 or float in [0, 1].
    hr: the reference of the same shape and kind.
    border: pixels cut from each side (the scale factor, by the usual protocol).
    y_channel: compare luminance (:func:`rgb_to_y`) instead of RGB.

  Returns:
    ``10 log10(255^2 / MSE)``; ``inf`` when the compared pixels are equal.
  """
  a, b = _prepare(sr, hr, border, y_channel)
  mse = float(np.mean((a - b) ** 2))
  return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
  g = np.exp(-(x**2) / (2.0 * sigma**2))
  return g / g.sum()  # the 2-D window (outer product) then also sums to 1


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
  """Separable 'valid' filtering of a 2-D array with the 1-D window ``g`` on both axes."""
  k = len(g)
  h, w = x.shape[0] - k + 1, x.shape[1] - k + 1
  rows = sum(g[i] * x[i : i + h] for i in range(k))
  return sum(g[j] * rows[:, j : j + w] for j in range(k))


def _ssim_2d(a: np.ndarray, b: np.ndarray) -> float:
  c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
  g = _gaussian_window()
  if min(a.shape) < len(g):
    raise ValueError(
      f"SSIM needs images of at least 11x11 pixels after the border cut, got {a.shape}"
    )
  mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
  var_a = _filter_valid(a * a, g) - mu_a**2
  var_b = _filter_valid(b * b, g) - mu_b**2
  cov = _filter_valid(a * b, g) - mu_a * mu_b
  num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
  den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
  return float(np.mean(num / den))


def ssim(sr: np.ndarray, hr: np.ndarray, border: int = 0, y_channel: bool = True) -> float:
  """Mean SSIM (Wang et al. 2004, MATLAB ``ssim_index``) after quantising and cutting ``border``.

  Args:
    sr: the reconstruction, HxWx3 (or HxW), uint8 or float in [0, 1].
    hr: the reference of the same shape and kind.
    border: pixels cut from each side (the scale factor, by the usual protocol).
    y_channel: compare luminance; otherwise the mean SSIM of the channels.

  Returns:
    The mean of the SSIM map over the 'valid' window positions; 1 for equal images.
  """
  a, b = _prepare(sr, hr, border, y_channel)
  if a.ndim == 2:
    return _ssim_2d(a, b)
  return float(np.mean([_ssim_2d(a[..., c], b[..., c]) for c in range(a.shape[-1])]))


def mean_psnr(values: Sequence[float]) -> tuple[float, int]:
  """The mean of the finite PSNRs of a test set and the number of infinite ones left out.

  Example:
    >>> mean_psnr([30.0, float("inf"), 32.0])
    (31.0, 1)
  """
  values = np.asarray(values, np.float64)
  finite = values[np.isfinite(values)]
  mean = float(finite.mean()) if finite.size else math.inf
  return mean, int(values.size - finite.size)


def evaluate_images(
  srs: Sequence[np.ndarray], hrs: Sequence[np.ndarray], border: int, y_channel: bool = True
) -> dict[str, float]:
  """PSNR and SSIM of a test set, averaged over its images.

  Returns:
    ``{'psnr': mean finite PSNR, 'ssim': mean SSIM, 'identical': images with infinite PSNR}``.
  """
  if len(srs) != len(hrs):
    raise ValueError(f"got {len(srs)} reconstructions for {len(hrs)} reference images")
  psnrs = [psnr(s, h, border, y_channel) for s, h in zip(srs, hrs, strict=True)]
  ssims = [ssim(s, h, border, y_channel) for s, h in zip(srs, hrs, strict=True)]
  mean, identical = mean_psnr(psnrs)
  return {"psnr": mean, "ssim": float(np.mean(ssims)), "identical": identical}


def psnr_batch(sr: jnp.ndarray, hr: jnp.ndarray) -> jnp.ndarray:
  """Per-example RGB PSNR (dB) of NHWC images in [0, 1], for training logs; jit-able.

  The reconstruction is clipped to [0, 1]; there is no quantisation, colour
  conversion or border cut (use :func:`psnr` for reported numbers).

  Returns:
    ``(N,)`` float32: ``-10 log10(MSE)`` per example (``inf`` where equal).
  """
  sr = jnp.clip(sr.astype(jnp.float32), 0.0, 1.0)
  mse = jnp.mean((sr - hr.astype(jnp.float32)) ** 2, axis=tuple(range(1, sr.ndim)))
  return -10.0 * jnp.log10(mse)
