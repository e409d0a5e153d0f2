"""The network level of the trellis space: nodes, transitions, alpha rows, pruning, Viterbi.

Auto-DeepLab (Liu et al., CVPR 2019, arXiv 1901.02985) searches the path of
a segmentation network through a trellis of ``layers`` layers and ``levels``
spatial levels. Level ``s`` has downsample rate ``4 * 2**s`` (4, 8, 16, 32 for
4 levels). Node ``(l, s)`` (layer ``l``, level ``s``) exists iff
``0 <= s <= min(l + 1, levels - 1)``; the stem output is node ``(-1, 0)``.
Only the short connections of the paper are searched: a *transition*
``(l, t, s)`` goes from node ``(l - 1, t)`` (the stem when ``l = 0``, so
``t = 0``) to node ``(l, s)`` with ``s`` in ``t - 1`` ("up", from a coarser
level), ``t`` ("same") or ``t + 1`` ("down"), where node ``(l, s)`` exists.

Network-level weights (the paper's beta, Eq. 6) are normalised over each
*source* node's outgoing transitions. Every source node (the stem, then the
nodes of layers ``0 .. layers - 2``, layer-major, levels ascending) is one
alpha row whose columns are its moves in the order up, same, down
(restricted to the moves that exist). Rows are grouped by their number of
moves into the alpha tensors ``network2: (n2, 2)`` and ``network3: (n3, 3)``
(in source order within each), so a relaxation's per-row softmax is the
paper's normalisation. The last layer's nodes have no outgoing transitions
and no row.

Example:
  >>> transitions(2, 3)
  ((0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1), (1, 1, 2))
  >>> network_shapes(2, 3)
  {'network2': (2, 2), 'network3': (1, 3)}
  >>> row_moves(2, 3)['network2']
  (('same', 'down'), ('same', 'down'))
  >>> import numpy as np
  >>> probs = {'network2': np.array([[0.6, 0.4], [0.5, 0.5]]),
  ...          'network3': np.array([[0.0, 0.1, 0.9]])}
  >>> viterbi_path(probs, 2, 3)  # greedy would stay at level 0 (0.6 * 0.5 < 0.4 * 0.9)
  (1, 2)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: The moves of a transition, in the column order of the network alpha rows.
MOVES: tuple[str, ...] = ("up", "same", "down")

#: A transition ``(l, t, s)``: into layer ``l``, from level ``t`` (of layer ``l - 1``) to ``s``.
Transition = tuple[int, int, int]
#: A node ``(l, s)``: layer, level; the stem is ``(-1, 0)``.
Node = tuple[int, int]

STEM: Node = (-1, 0)


def levels_at(layer: int, levels: int) -> range:
  """The levels of the nodes of ``layer`` (``range(1)`` for the stem, layer -1)."""
  if layer < 0:
    return range(1)
  return range(min(layer + 1, levels - 1) + 1)


def move_of(source: int, target: int) -> str:
  """``'up'``, ``'same'`` or ``'down'`` for a transition from level ``source`` to ``target``."""
  return MOVES[target - source + 1]


@functools.lru_cache(maxsize=64)
def transitions(layers: int, levels: int) -> tuple[Transition, ...]:
  """Every transition ``(l, t, s)``: by target layer, then source level, then move."""
  out = []
  for layer in range(layers):
    targets = levels_at(layer, levels)
    for t in levels_at(layer - 1, levels):
      out.extend((layer, t, s) for s in (t - 1, t, t + 1) if s in targets)
  return tuple(out)


@functools.lru_cache(maxsize=64)
def _row_layout(
  layers: int, levels: int
) -> tuple[dict[Transition, tuple[str, int, int]], dict[str, tuple[tuple[str, ...], ...]]]:
  index: dict[Transition, tuple[str, int, int]] = {}
  moves: dict[str, list[tuple[str, ...]]] = {}
  groups: dict[tuple[int, int], list[Transition]] = {}
  for tr in transitions(layers, levels):
    groups.setdefault(tr[:2], []).append(tr)
  for group in groups.values():
    key = f"network{len(group)}"
    rows = moves.setdefault(key, [])
    for col, tr in enumerate(group):
      index[tr] = (key, len(rows), col)
    rows.append(tuple(move_of(t, s) for _, t, s in group))
  return index, {k: tuple(v) for k, v in sorted(moves.items())}


def transition_index(layers: int, levels: int) -> dict[Transition, tuple[str, int, int]]:
  """``{(l, t, s): (alpha name, row, column)}``: where each transition's weight lives."""
  return dict(_row_layout(layers, levels)[0])


def row_moves(layers: int, levels: int) -> dict[str, tuple[tuple[str, ...], ...]]:
  """The moves of every row, ``{'network2': (row 0's, ...), 'network3': ...}`` (no empty key)."""
  return dict(_row_layout(layers, levels)[1])


def network_shapes(layers: int, levels: int) -> dict[str, tuple[int, int]]:
  """``{'network2': (n2, 2), 'network3': (n3, 3)}``, leaving out a tensor without rows."""
  return {k: (len(v), len(v[0])) for k, v in row_moves(layers, levels).items()}


def source_rows(layers: int, levels: int) -> dict[Node, tuple[str, int]]:
  """``{source node: (alpha name, row)}`` for the stem and every node of layers ``0..L-2``."""
  return {
    (layer - 1, t): (key, row)
    for (layer, t, _), (key, row, _) in _row_layout(layers, levels)[0].items()
  }


@functools.lru_cache(maxsize=256)
def live_layout(
  layers: int, levels: int, pruned: frozenset[Transition] = frozenset()
) -> tuple[tuple[Transition, ...], frozenset[Node]]:
  """The transitions and nodes that remain after pruning ``pruned``.

  A node is alive iff it is the stem or at least one transition from a
  live node into it is not pruned; transitions out of dead nodes are pruned
  too (the propagation of :func:`nasjax.spaces.trellis.space.prune_fields`).

  Returns:
    ``(live transitions in :func:`transitions` order, alive nodes incl. the stem)``.
  """
  alive = {STEM}
  live = []
  for tr in transitions(layers, levels):
    layer, t, s = tr
    if (layer - 1, t) in alive and tr not in pruned:
      live.append(tr)
      alive.add((layer, s))
  return tuple(live), frozenset(alive)


def pruned_closure(
  layers: int, levels: int, pruned: Iterable[Transition]
) -> tuple[Transition, ...]:
  """``pruned`` plus every transition out of a node it leaves dead, in layout order."""
  live, _ = live_layout(layers, levels, frozenset(map(tuple, pruned)))
  keep = set(live)
  return tuple(tr for tr in transitions(layers, levels) if tr not in keep)


def _log(p: Any) -> np.ndarray:
  with np.errstate(divide="ignore"):
    return np.log(np.asarray(p, np.float64))


def viterbi_path(network_probs: Mapping[str, Any], layers: int, levels: int) -> tuple[int, ...]:
  """The most probable path through the trellis: one level per layer.

  Maximises the sum of the log weights of the transitions taken, stem ->
  layer 0 -> ... -> layer ``layers - 1``, ending at any level, following only
  existing transitions (dynamic programming over the layers). Ties go to the
  lower level: the path ends at the lowest level among the best, and each
  step back takes the lowest source level among the best.

  Args:
    network_probs: ``{'network2': (n2, 2), 'network3': (n3, 3)}`` normalised
      weights (probabilities; zero weights are log 0 = -inf).
    layers: the trellis' number of layers.
    levels: the trellis' number of levels.

  Returns:
    ``path``: ``path[l]`` is the level of the path's node in layer ``l``.

  Raises:
    ValueError: if the arrays do not have the layout's shapes.
  """
  expected = network_shapes(layers, levels)
  got = {k: tuple(np.shape(v)) for k, v in network_probs.items() if k in expected}
  if got != expected:
    raise ValueError(f"network weights must have shapes {expected}, got {got}")
  logs = {k: _log(network_probs[k]) for k in expected}
  index = transition_index(layers, levels)
  score = {0: 0.0}  # the stem
  back: list[dict[int, int]] = []
  for layer in range(layers):
    new: dict[int, float] = {}
    choice: dict[int, int] = {}
    for s in levels_at(layer, levels):
      for t in sorted(score):
        if (layer, t, s) not in index:
          continue
        key, row, col = index[(layer, t, s)]
        value = score[t] + logs[key][row, col]
        if s not in new or value > new[s]:
          new[s], choice[s] = value, t
    score = new
    back.append(choice)
  last = min(score, key=lambda s: (-score[s], s))
  path = [last]
  for layer in range(layers - 1, 0, -1):
    path.append(back[layer][path[-1]])
  return tuple(reversed(path))
