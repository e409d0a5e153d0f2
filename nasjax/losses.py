"""Task losses and the accuracy metric."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


def cross_entropy(logits: Array, labels: Array) -> Array:
  """Mean softmax cross-entropy with integer labels, computed in float32."""
  logits = logits.astype(jnp.float32) if logits.dtype != jnp.float64 else logits
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))


def accuracy(logits: Array, labels: Array) -> Array:
  """Fraction of examples whose top-1 prediction equals the label."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
