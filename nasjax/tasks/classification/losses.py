"""The classification loss and metric: softmax cross-entropy and top-1 accuracy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from nasjax.tasks.base import as_float32

Array = jax.Array


def cross_entropy(logits: Array, labels: Array) -> Array:
  """Mean softmax cross-entropy with integer labels, computed in float32."""
  return jnp.mean(per_example_cross_entropy(logits, labels))


def accuracy(logits: Array, labels: Array) -> Array:
  """Fraction of examples whose top-1 prediction equals the label."""
  return jnp.mean(correct(logits, labels))


def per_example_cross_entropy(logits: Array, labels: Array) -> Array:
  """Softmax cross-entropy of each example (float32)."""
  return optax.softmax_cross_entropy_with_integer_labels(as_float32(logits), labels)


def correct(logits: Array, labels: Array) -> Array:
  """1.0 for each example whose top-1 prediction is its label, else 0.0."""
  return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
