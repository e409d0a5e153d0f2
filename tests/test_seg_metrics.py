"""Segmentation loss, confusion matrix, mIoU and sliding-window prediction, checked by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nasjax.tasks.registry import get_task
from nasjax.tasks.segmentation.images import normalize_images
from nasjax.tasks.segmentation.losses import IGNORE_INDEX
from nasjax.tasks.segmentation.metrics import (
  confusion_matrix,
  evaluate_segmentation,
  predict_sliding,
  predict_whole,
  segmentation_scores,
  window_starts,
)

SEG = get_task("segmentation")
# Three images of one row of three pixels; class logits (0, ln 2, ln 3) everywhere but the
# first pixel of each image, which favours class 0 with (ln 4, 0, 0).
LOGITS = np.tile(np.log([1.0, 2.0, 3.0]), (3, 1, 3, 1))
LOGITS[:, 0, 0] = [math.log(4.0), 0.0, 0.0]
LABELS = np.array([[[0, 2, 255]], [[1, 255, 255]], [[255, 255, 255]]])


def test_segmentation_loss_and_pixel_accuracy_by_hand():
  ce_first = -math.log(4 / 6)  # pixel (0, 0), label 0: softmax (4, 1, 1) / 6
  ce_label2 = -math.log(3 / 6)  # softmax (1, 2, 3) / 6, label 2
  ce_label1 = -math.log(1 / 6)  # (4, 1, 1) / 6 at its first pixel, label 1
  per_image = SEG.per_example_loss(jnp.asarray(LOGITS), jnp.asarray(LABELS))
  np.testing.assert_allclose(per_image, [(ce_first + ce_label2) / 2, ce_label1, 0.0], rtol=1e-6)
  batch = (ce_first + ce_label2 + ce_label1) / 3  # the mean over the 3 valid pixels
  np.testing.assert_allclose(SEG.loss(jnp.asarray(LOGITS), jnp.asarray(LABELS)), batch, rtol=1e-6)
  assert not np.isclose(batch, float(jnp.mean(per_image)))
  # image 0: both valid pixels right (argmax 0 and 2); image 1: predicts 0, label 1; image 2: none
  acc = SEG.per_example_metric(jnp.asarray(LOGITS), jnp.asarray(LABELS))
  np.testing.assert_allclose(acc, [1.0, 0.0, 0.0])
  np.testing.assert_allclose(SEG.score(jnp.asarray(LOGITS), jnp.asarray(LABELS)), 1 / 3)
  assert SEG.metric == "pixel_acc" and SEG.label_dtype == jnp.int32 and IGNORE_INDEX == 255


def test_gradients_are_finite_with_an_all_ignored_image():
  labels = jnp.asarray(LABELS)
  logits = jnp.asarray(LOGITS) * 1e3  # large logits too
  for fn in (SEG.loss, lambda x, y: jnp.sum(SEG.per_example_loss(x, y))):
    grad = jax.grad(fn)(logits, labels)
    assert bool(jnp.all(jnp.isfinite(grad)))
    np.testing.assert_array_equal(grad[2], 0.0)  # the all-ignored image gets no gradient
    np.testing.assert_array_equal(grad[0, 0, 2], 0.0)  # nor an ignored pixel
  empty = jnp.full((1, 2, 2), IGNORE_INDEX)
  assert float(SEG.loss(jnp.zeros((1, 2, 2, 3)), empty)) == 0.0
  grad = jax.grad(SEG.loss)(jnp.zeros((1, 2, 2, 3)), empty)
  assert bool(jnp.all(grad == 0.0))


def test_other_tasks_keep_the_mean_of_per_example_losses():
  for name in ("classification", "super_resolution"):
    assert get_task(name).batch_loss is None
  cls = get_task("classification")
  logits, labels = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), jnp.array([0, 0, 1])
  assert float(cls.loss(logits, labels)) == float(jnp.mean(cls.per_example_loss(logits, labels)))


# A 2x4 example over 4 classes: class 3 occurs only at ignored pixels of the prediction.
LABEL = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
PRED = np.array([[0, 1, 1, 1], [2, 0, 3, 3]])
CONF = [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_confusion_matrix_and_scores_by_hand():
  conf = confusion_matrix(PRED, LABEL, 4)
  assert conf.dtype == jnp.int32
  np.testing.assert_array_equal(conf, CONF)
  scores = segmentation_scores(conf)
  # IoU: class 0 1/(2+2-1), class 1 2/(2+3-2), class 2 1/(2+1-1), class 3 absent from both
  np.testing.assert_allclose(scores["iou"][:3], [1 / 3, 2 / 3, 1 / 2])
  assert math.isnan(scores["iou"][3])
  assert scores["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
  assert scores["pixel_acc"] == pytest.approx(4 / 6) and scores["pixels"] == 6
  assert scores["mean_acc"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
  # a class predicted but never true has IoU 0 and enters the mean (recall: not)
  scores = segmentation_scores(confusion_matrix(np.array([3, 1]), np.array([0, 1]), 4))
  assert scores["iou"][3] == 0.0 and scores["iou"][0] == 0.0 and math.isnan(scores["iou"][2])
  assert scores["miou"] == pytest.approx(1 / 3) and scores["mean_acc"] == pytest.approx(1 / 2)
  empty = segmentation_scores(np.zeros((3, 3), np.int32))
  assert math.isnan(empty["miou"]) and empty["pixels"] == 0


def test_confusion_matrix_matches_a_pixel_loop():
  rng = np.random.default_rng(0)
  label = rng.integers(0, 6, (3, 7, 9))
  label[rng.random(label.shape) < 0.2] = 255
  label[0, 0, :3] = [5, 5, 5]  # ids >= num_classes are not counted either
  pred = rng.integers(0, 5, label.shape)
  expected = np.zeros((5, 5), int)
  for t, p in zip(label.ravel(), pred.ravel(), strict=True):
    if t < 5:
      expected[t, p] += 1
  np.testing.assert_array_equal(
    jax.jit(confusion_matrix, static_argnums=2)(pred, label, 5), expected
  )


def test_window_starts_cover_every_pixel():
  for size in range(1, 30):
    for crop, stride in ((4, 1), (4, 3), (5, 5), (7, 4)):
      starts = window_starts(size, crop, stride)
      covered = np.zeros(max(size, crop), bool)
      for s in starts:
        covered[s : s + crop] = True
      assert covered.all() and starts[-1] + crop == max(size, crop) and starts[0] == 0
      assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:], strict=False))
  with pytest.raises(ValueError, match="stride"):
    window_starts(10, 4, 5)


W = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)


def per_pixel(x):  # a 1x1 convolution: logits depend on the pixel alone
  return jnp.einsum("nhwc,ck->nhwk", x, W) + 0.5


def window_mean(x):  # depends on the whole window: the window's mean colour added everywhere
  return per_pixel(x) + jnp.mean(x, axis=(1, 2), keepdims=True) @ W


@pytest.mark.parametrize("shape", [(20, 27), (5, 6), (8, 30)])
def test_sliding_equals_whole_for_a_per_pixel_network(shape):
  image = np.random.default_rng(2).normal(size=(*shape, 3)).astype(np.float32)
  whole = predict_whole(per_pixel, image[None])[0]
  for batch_size in (0, 3):
    sliding = predict_sliding(
      per_pixel, image, crop=8, stride=5, num_classes=5, batch_size=batch_size
    )
    assert sliding.shape == (*shape, 5)
    np.testing.assert_allclose(sliding, whole, rtol=1e-5, atol=1e-5)


def test_sliding_averages_windows_for_a_non_local_network():
  image = np.random.default_rng(3).normal(size=(10, 13, 3)).astype(np.float32)
  sliding = np.asarray(predict_sliding(window_mean, image, crop=8, stride=5, num_classes=5))
  assert np.abs(sliding - np.asarray(window_mean(image[None])[0])).max() > 1e-2
  # by hand: windows at rows (0, 2), columns (0, 5); each pixel averages the windows holding it
  total, count = np.zeros((10, 13, 5)), np.zeros((10, 13, 1))
  for y in (0, 2):
    for x in (0, 5):
      total[y : y + 8, x : x + 8] += np.asarray(window_mean(image[None, y : y + 8, x : x + 8])[0])
      count[y : y + 8, x : x + 8] += 1
  np.testing.assert_allclose(sliding, total / count, rtol=1e-5, atol=1e-5)


def test_a_crop_larger_than_the_image_pads_with_zeros():
  image = np.random.default_rng(4).normal(size=(5, 6, 3)).astype(np.float32)
  out = np.asarray(predict_sliding(window_mean, image, crop=8, stride=4, num_classes=5))
  padded_mean = image.sum(axis=(0, 1)) / 64  # the 8x8 window: 30 pixels of image, 34 of zeros
  expected = np.asarray(per_pixel(image[None])[0]) + padded_mean @ W
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_predict_whole_rejects_logits_at_another_resolution():
  with pytest.raises(ValueError, match="upsample"):
    predict_whole(lambda x: per_pixel(x)[:, ::2, ::2], np.zeros((1, 4, 4, 3), np.float32))


def test_evaluate_segmentation_counts_one_matrix_over_the_set():
  rng = np.random.default_rng(5)
  images = [
    rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in ((9, 11), (9, 11), (9, 11), (7, 5))
  ]
  labels = [rng.integers(0, 5, im.shape[:2]) for im in images]
  labels[0][:3] = 255
  expected = np.zeros((5, 5), int)
  for image, label in zip(images, labels, strict=True):
    pred = np.asarray(per_pixel(normalize_images(image)[None])[0]).argmax(-1)
    expected += np.asarray(confusion_matrix(pred, label, 5))
  want = segmentation_scores(expected)
  assert want["pixels"] == 9 * 11 * 3 - 33 + 35
  for kwargs in (dict(batch_size=1), dict(batch_size=2), dict(mode="sliding", crop=6, stride=4)):
    got = evaluate_segmentation(per_pixel, images, labels, 5, **kwargs)
    assert got["pixels"] == want["pixels"]
    np.testing.assert_allclose(got["miou"], want["miou"], rtol=1e-6)
    np.testing.assert_allclose(got["pixel_acc"], want["pixel_acc"], rtol=1e-6)
  floats = [normalize_images(im) for im in images]  # already normalised: taken as they are
  assert evaluate_segmentation(per_pixel, floats, labels, 5)["miou"] == pytest.approx(want["miou"])
