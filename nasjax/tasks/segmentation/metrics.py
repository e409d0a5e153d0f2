"""Segmentation evaluation: the confusion matrix, mIoU and whole-image or sliding-window prediction.

One confusion matrix (rows: ground truth, columns: prediction) is summed
over a whole set, and every score is read off it: the IoU of class ``c`` is
``TP / (TP + FP + FN)``, mIoU the mean IoU over the classes that occur in
the ground truth or the prediction (a class absent from both has no IoU:
NaN in the per-class list and left out of the mean). Pixels labelled 255
(:data:`nasjax.tasks.segmentation.losses.IGNORE_INDEX`) are never counted.

Networks are seen through ``apply_fn``: a function mapping a batch of
normalised float images ``(N, h, w, 3)`` to logits ``(N, h, w, C)`` at the
input's resolution (a jitted ``model.apply`` with its variables bound).
:func:`predict_sliding` averages the logits of overlapping ``crop`` windows,
which cover the (padded) image completely, the last one in each direction
aligned to the border.

Example:
  >>> import numpy as np
  >>> conf = confusion_matrix(np.array([[0, 1, 1]]), np.array([[0, 1, 255]]), num_classes=3)
  >>> np.asarray(conf).tolist()
  [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
  >>> scores = segmentation_scores(conf)
  >>> scores['miou'], scores['pixel_acc'], scores['pixels']
  (1.0, 1.0, 2)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nasjax.tasks.segmentation.images import normalize_images
from nasjax.tasks.segmentation.losses import IGNORE_INDEX

Array = jax.Array
ApplyFn = Callable[[Array], Array]


@functools.partial(jax.jit, static_argnames=("num_classes", "ignore_index"))
def _confusion(pred: Array, label: Array, num_classes: int, ignore_index: int) -> Array:
  label = label.astype(jnp.int32)
  pred = jnp.clip(pred.astype(jnp.int32), 0, num_classes - 1)
  valid = (label != ignore_index) & (label >= 0) & (label < num_classes)
  index = jnp.where(valid, label * num_classes + pred, 0).ravel()
  counts = jnp.bincount(
    index, weights=valid.ravel().astype(jnp.int32), length=num_classes * num_classes
  )
  return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def confusion_matrix(
  pred: Any, label: Any, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> Array:
  """The int32 ``(C, C)`` confusion matrix of predicted and true class ids (rows: truth).

  Args:
    pred: predicted class ids in ``[0, C)``, any shape (values outside are clipped).
    label: true ids, the same shape; ``ignore_index`` and ids outside
      ``[0, C)`` are not counted.
    num_classes: ``C``.
    ignore_index: the label of unscored pixels.

  Returns:
    ``conf[t, p]``: the number of pixels of true class ``t`` predicted as ``p``.
    Jitted (one compile per shape); int32, so sum sets image by image.
  """
  return _confusion(jnp.asarray(pred), jnp.asarray(label), int(num_classes), int(ignore_index))


def segmentation_scores(conf: Any) -> dict[str, Any]:
  """Scores of a confusion matrix (rows: truth, columns: prediction).

  Returns:
    ``miou`` (mean IoU over the classes whose union is non-empty), ``iou``
    (per-class list; NaN where the class is absent from truth and
    prediction), ``pixel_acc`` (fraction of counted pixels predicted right),
    ``mean_acc`` (mean per-class recall over the classes present in the
    truth) and ``pixels`` (the number of counted pixels). Scores without any
    class to average over are NaN.
  """
  conf = np.asarray(conf, np.float64)
  if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
    raise ValueError(f"a confusion matrix is square (C, C), got shape {conf.shape}")
  tp, truth, predicted = np.diag(conf), conf.sum(axis=1), conf.sum(axis=0)
  union = truth + predicted - tp
  with np.errstate(divide="ignore", invalid="ignore"):
    iou = np.where(union > 0, tp / union, np.nan)
    recall = np.where(truth > 0, tp / truth, np.nan)
  total = conf.sum()

  def mean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")

  return {
    "miou": mean(iou),
    "iou": [float(v) for v in iou],
    "pixel_acc": float(tp.sum() / total) if total else float("nan"),
    "mean_acc": mean(recall),
    "pixels": int(total),
  }


def predict_whole(apply_fn: ApplyFn, images: Any) -> Array:
  """Logits ``(N, H, W, C)`` of normalised float images ``(N, H, W, 3)`` in one call.

  Raises:
    ValueError: if ``apply_fn`` does not answer at the input's resolution.
  """
  images = jnp.asarray(images)
  logits = apply_fn(images)
  if logits.ndim != 4 or logits.shape[:3] != images.shape[:3]:
    raise ValueError(
      f"apply_fn must return logits (N, H, W, C) at the input's {images.shape[1:3]}, got "
      f"{logits.shape}; upsample inside the network"
    )
  return logits


def window_starts(size: int, crop: int, stride: int) -> list[int]:
  """Start offsets of ``crop`` windows every ``stride`` pixels covering ``max(size, crop)``.

  The last window ends at the border.

  Example:
    >>> window_starts(10, 4, 3), window_starts(9, 4, 3), window_starts(3, 4, 3)
    ([0, 3, 6], [0, 3, 5], [0])
  """
  if not 1 <= stride <= crop:
    raise ValueError(f"stride must be in [1, crop={crop}] for windows to cover, got {stride}")
  size = max(size, crop)
  starts = list(range(0, size - crop + 1, stride))
  if starts[-1] + crop < size:
    starts.append(size - crop)
  return starts


@functools.partial(jax.jit, static_argnames="crop")
def _cut(padded: Array, ys: Array, xs: Array, crop: int) -> Array:
  def window(y, x):
    return jax.lax.dynamic_slice(padded, (y, x, 0), (crop, crop, padded.shape[-1]))

  return jax.vmap(window)(ys, xs)


@jax.jit
def _accumulate(total: Array, count: Array, outs: Array, ys: Array, xs: Array):
  crop = outs.shape[1:3]

  def add(k, carry):
    t, c = carry
    y, x = ys[k], xs[k]
    t = jax.lax.dynamic_update_slice(
      t, jax.lax.dynamic_slice(t, (y, x, 0), outs.shape[1:]) + outs[k], (y, x, 0)
    )
    c = jax.lax.dynamic_update_slice(c, jax.lax.dynamic_slice(c, (y, x), crop) + 1.0, (y, x))
    return t, c

  return jax.lax.fori_loop(0, outs.shape[0], add, (total, count))


def predict_sliding(
  apply_fn: ApplyFn,
  image: Any,
  crop: int,
  stride: int,
  num_classes: int,
  batch_size: int = 0,
) -> Array:
  """Logits ``(H, W, C)`` of one normalised image ``(H, W, 3)``, averaged over sliding windows.

  The image is padded at the bottom and right with 0 (the mean pixel once
  normalised) to at least ``crop`` pixels; ``crop`` windows every ``stride``
  pixels (:func:`window_starts`) cover it, each pixel's logits are the mean
  over the windows holding it, and the padding is cut off again.

  Args:
    apply_fn: normalised images ``(N, crop, crop, 3)`` -> logits ``(N, crop, crop, C)``.
    image: the normalised float image.
    crop: the window side.
    stride: the step between windows, in ``[1, crop]``.
    num_classes: ``C``.
    batch_size: windows per ``apply_fn`` call (0: all at once); a short last
      call is filled up with repeated windows, so every call has one shape.
  """
  image = jnp.asarray(image)
  h, w = image.shape[:2]
  padded = jnp.pad(image, ((0, max(h, crop) - h), (0, max(w, crop) - w), (0, 0)))
  corners = [(y, x) for y in window_starts(h, crop, stride) for x in window_starts(w, crop, stride)]
  ys = jnp.asarray([c[0] for c in corners], jnp.int32)
  xs = jnp.asarray([c[1] for c in corners], jnp.int32)
  total = jnp.zeros((*padded.shape[:2], num_classes), jnp.float32)
  count = jnp.zeros(padded.shape[:2], jnp.float32)
  n = len(corners)
  size = n if batch_size <= 0 else min(batch_size, n)
  for start in range(0, n, size):
    pick = jnp.arange(start, start + size) % n
    outs = predict_whole(apply_fn, _cut(padded, ys[pick], xs[pick], crop))
    keep = min(size, n - start)
    total, count = _accumulate(
      total,
      count,
      outs[:keep].astype(jnp.float32),
      ys[start : start + keep],
      xs[start : start + keep],
    )
  return (total / count[..., None])[:h, :w]


def _normalised(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  return normalize_images(image) if image.dtype == np.uint8 else image.astype(np.float32)


def evaluate_segmentation(
  apply_fn: ApplyFn,
  images: Sequence[Any],
  labels: Sequence[Any],
  num_classes: int,
  mode: str = "whole",
  crop: int = 513,
  stride: int = 342,
  batch_size: int = 1,
) -> dict[str, Any]:
  """Scores (:func:`segmentation_scores`) of a network on a set, from one confusion matrix.

  Args:
    apply_fn: normalised images ``(N, h, w, 3)`` -> logits ``(N, h, w, C)``.
    images: ``(H, W, 3)`` images (a list, or an ``(N, H, W, 3)`` array);
      uint8 images are normalised with ImageNet's mean and std here, float
      images are taken as normalised already. Sizes may differ.
    labels: ``(H, W)`` train ids, 255 = ignore.
    num_classes: ``C``.
    mode: ``'whole'`` (each image in one forward pass) or ``'sliding'``
      (:func:`predict_sliding` with ``crop`` and ``stride``).
    crop: the sliding windows' size.
    stride: the sliding windows' stride.
    batch_size: images per call in ``'whole'`` mode (consecutive images of
      one size; a short batch is filled up with copies whose pixels are not
      counted), windows per call in ``'sliding'`` mode.

  Returns:
    ``{'miou', 'iou', 'pixel_acc', 'mean_acc', 'pixels'}``.
  """
  if mode not in ("whole", "sliding"):
    raise ValueError(f"mode must be 'whole' or 'sliding', got {mode!r}")
  if len(images) != len(labels):
    raise ValueError(f"{len(images)} images but {len(labels)} labels; pass one label per image")
  conf = np.zeros((num_classes, num_classes), np.int64)
  if mode == "sliding":
    for image, label in zip(images, labels, strict=True):
      logits = predict_sliding(apply_fn, _normalised(image), crop, stride, num_classes, batch_size)
      conf += np.asarray(confusion_matrix(jnp.argmax(logits, -1), label, num_classes))
    return segmentation_scores(conf)
  i, n = 0, len(images)
  while i < n:
    shape = np.shape(images[i])
    group = [i]
    while (
      len(group) < batch_size and i + len(group) < n and np.shape(images[i + len(group)]) == shape
    ):
      group.append(i + len(group))
    fill = batch_size - len(group)
    batch = np.stack([_normalised(images[j]) for j in group + [i] * fill])
    label = np.stack(
      [np.asarray(labels[j]) for j in group] + [np.full(shape[:2], IGNORE_INDEX)] * fill
    )
    logits = predict_whole(apply_fn, batch)
    conf += np.asarray(confusion_matrix(jnp.argmax(logits, -1), label, num_classes))
    i += len(group)
  return segmentation_scores(conf)
