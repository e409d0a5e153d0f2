"""How a search shares its training examples between the weights and alpha.

Split policies (``config.data.split_policy``; arXiv 2405.16610, Fig. 4,
compares training w and alpha on disjoint halves with training both on one
shared set):

* ``disjoint`` (default) -- DARTS' fixed seeded 50/50 cut: one half trains
  the weights, the other alpha (``split_ratio`` must stay 0.5).
* ``ratio`` -- a fixed seeded disjoint cut, the weight part holding
  ``round(n * split_ratio)`` examples.
* ``shared`` -- both draw from the whole training set, each in its own
  per-epoch order, so a step's two batches generally differ.
* ``reshuffle`` -- a fresh seeded disjoint cut at ``split_ratio`` every epoch
  (epoch 0 uses the fixed cut of ``ratio``): within an epoch the parts are
  disjoint, over the run every example serves both roles.

Every task's search data splits its training set this way: examples
(classification) or whole images (super-resolution, segmentation;
:class:`ImageSplit`).

The formulas, defaults and their sources: ``docs/methods.md`` (Data split policies).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasjax.errors import ConfigError

#: The values of ``config.data.split_policy``, each described in the module docstring.
SPLIT_POLICIES = ("disjoint", "ratio", "shared", "reshuffle")


def check_split(policy: str, ratio: float) -> None:
  """Raises ConfigError unless ``(split_policy, split_ratio)`` is a valid pair.

  Raises:
    ConfigError: naming the field and what it accepts.
  """
  if policy not in SPLIT_POLICIES:
    raise ConfigError(
      f"config.data.split_policy must be one of {list(SPLIT_POLICIES)}, got {policy!r}"
    )
  if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0:
    raise ConfigError(f"config.data.split_ratio must be a number in (0, 1), got {ratio!r}")
  if policy == "disjoint" and ratio != 0.5:
    raise ConfigError(
      f"config.data.split_ratio={ratio} needs config.data.split_policy='ratio' (or "
      f"'reshuffle'); the 'disjoint' policy is the fixed 50/50 cut"
    )
  if policy == "shared" and ratio != 0.5:
    raise ConfigError(
      f"config.data.split_ratio={ratio} has no effect with config.data.split_policy='shared' "
      f"(both streams read the whole set); leave it at 0.5 or use split_policy='ratio'"
    )


def split_indices(
  n: int, seed: int, policy: str = "disjoint", ratio: float = 0.5, epoch: int = 0
) -> tuple[np.ndarray, np.ndarray]:
  """Indices (sorted) of the weight part and the alpha part of ``n`` training examples in ``epoch``.

  ``disjoint`` and ``ratio``: one seeded permutation cut after its first
  ``round(n * ratio)`` entries, the same in every epoch. ``shared``: every
  index in both parts. ``reshuffle``: the ``ratio`` cut in epoch 0 and a
  fresh seeded cut of the same sizes in every later epoch. The two parts of
  a disjoint policy never share an example.

  Args:
    n: the number of training examples.
    seed: the search seed.
    policy: one of :data:`SPLIT_POLICIES`.
    ratio: the weight part's share of the examples.
    epoch: the epoch (only ``reshuffle`` depends on it).

  Returns:
    ``(weight_indices, alpha_indices)``.

  Example:
    >>> w, a = split_indices(10, seed=0, policy="ratio", ratio=0.3)
    >>> len(w), len(a), bool(set(w) & set(a))
    (3, 7, False)
  """
  check_split(policy, ratio)
  if policy == "shared":
    every = np.arange(n)
    return every, every.copy()
  key = [seed, 0x5B1] if policy != "reshuffle" or epoch == 0 else [seed, 0x5B1, epoch]
  perm = np.random.default_rng(key).permutation(n)
  cut = int(round(n * ratio))
  return np.sort(perm[:cut]), np.sort(perm[cut:])


class ImageSplit:
  """The weight and alpha parts of a search over a list of images (SR, segmentation).

  Subclasses set ``num_examples``, ``seed`` and ``cfg`` (``config.data``),
  then call :meth:`_split_images`.
  """

  num_examples: int
  seed: int
  cfg: Any

  def _split_images(self) -> None:
    """Sets ``weight_idx`` and ``alpha_idx`` (epoch 0) by ``cfg.split_policy``.

    Raises:
      ConfigError: for a policy the number of images cannot satisfy.
    """
    cfg, n = self.cfg, self.num_examples
    if cfg.split_policy != "shared" and n < 2:
      raise ConfigError(
        f"split_policy={cfg.split_policy!r} needs at least 2 training images, got {n}; add "
        f"images or use config.data.split_policy='shared'"
      )
    self.weight_idx, self.alpha_idx = split_indices(n, self.seed, cfg.split_policy, cfg.split_ratio)
    if not len(self.weight_idx) or not len(self.alpha_idx):
      raise ConfigError(
        f"config.data.split_ratio={cfg.split_ratio} leaves a part of the {n} training images "
        f"empty; move it towards 0.5"
      )

  def split(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(weight_idx, alpha_idx)``: the training images of each part in ``epoch``."""
    if epoch == 0 or self.cfg.split_policy != "reshuffle":
      return self.weight_idx, self.alpha_idx
    return split_indices(
      self.num_examples, self.seed, self.cfg.split_policy, self.cfg.split_ratio, epoch
    )
