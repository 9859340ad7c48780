"""Per-example reconstruction losses on decoder logits against targets in [0, 1]."""

import jax
import jax.numpy as jnp
import optax

from genlab.registry import Registry


def _flat(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


def mse(logits: jax.Array, target: jax.Array) -> jax.Array:
  """Mean squared error of sigmoid(logits) per example, averaged over pixels. Shape [B]."""
  return jnp.mean(jnp.square(_flat(jax.nn.sigmoid(logits)) - _flat(target)), axis=-1)


def bce(logits: jax.Array, target: jax.Array) -> jax.Array:
  """Bernoulli cross-entropy per example, summed over pixels (nats/image). Shape [B]."""
  return jnp.sum(optax.sigmoid_binary_cross_entropy(_flat(logits), _flat(target)), axis=-1)


def psnr(mse_per_example: jax.Array, peak: float = 1.0) -> jax.Array:
  """Per-example PSNR in dB for pixel values with the given peak."""
  return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse_per_example, 1e-12))


RECONSTRUCTION_LOSSES: Registry = Registry("reconstruction loss")
RECONSTRUCTION_LOSSES.register("mse", mse)
RECONSTRUCTION_LOSSES.register("bce", bce)


def gaussian_nll(mean: jax.Array, target: jax.Array, log_sigma: jax.Array) -> jax.Array:
  """−log N(x; mean, σ²) summed over dimensions (nats/example). Shape [B]."""
  err = (_flat(target) - _flat(mean)) * jnp.exp(-log_sigma)
  return jnp.sum(0.5 * jnp.square(err) + log_sigma + 0.5 * jnp.log(2 * jnp.pi), axis=-1)
