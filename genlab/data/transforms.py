"""On-device pixel transforms. Pixels enter every model as float32 in [0, 1].

Batches travel as uint8 (4× less host->device traffic) and are scaled inside the
jitted step by `genlab.steps.to_unit_float`. Families that want [-1, 1] (GANs)
map from [0, 1] themselves, so the data path has one convention.
"""

import jax
import jax.numpy as jnp
import numpy as np


def binarize(rng: jax.Array, x: jax.Array) -> jax.Array:
  """Dynamic binarization: each pixel ~ Bernoulli(x), redrawn at every step."""
  return jax.random.bernoulli(rng, x).astype(x.dtype)


def mask_noise(rng: jax.Array, x: jax.Array, prob: float) -> jax.Array:
  """Masking noise: each input value is set to 0 with probability `prob`."""
  keep = jax.random.bernoulli(rng, 1.0 - prob, x.shape)
  return jnp.where(keep, x, 0.0)


def gaussian_noise(rng: jax.Array, x: jax.Array, std: float) -> jax.Array:
  """Additive isotropic Gaussian noise, clipped back to the valid pixel range."""
  return jnp.clip(x + std * jax.random.normal(rng, x.shape, x.dtype), 0.0, 1.0)


def corrupt(rng: jax.Array, x: jax.Array, mask_prob: float, gaussian_std: float) -> jax.Array:
  """Masking then Gaussian noise; either is skipped when its strength is 0."""
  r_mask, r_gauss = jax.random.split(rng)
  if mask_prob > 0:
    x = mask_noise(r_mask, x, mask_prob)
  if gaussian_std > 0:
    x = gaussian_noise(r_gauss, x, gaussian_std)
  return x


def binarize_fixed(images: np.ndarray, seed: int = 0) -> np.ndarray:
  """One fixed Bernoulli draw of uint8 images, returned as uint8 in {0, 255}.

  Evaluation splits are binarized once with a constant seed (not the run's seed),
  so likelihoods of different runs are computed on the same binary digits.
  """
  rs = np.random.RandomState(seed)
  return np.where(rs.uniform(size=images.shape) < images / 255.0, 255, 0).astype(np.uint8)
