"""Per-example reconstruction losses on decoder logits against targets in [0, 1], and the
image similarities (PSNR, SSIM) evaluation reports."""

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


def _gaussian_window(size: int, sigma: float) -> jax.Array:
  x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-0.5 * jnp.square(x / sigma))
  return g / jnp.sum(g)


def ssim(x: jax.Array, y: jax.Array, peak: float = 1.0, window: int = 7,
         sigma: float = 1.5) -> jax.Array:
  """Per-example structural similarity (Wang et al. 2004) of NHWC images. Shape [B].

  Local means, variances and covariance under a Gaussian window (σ = 1.5, as the paper;
  7 taps rather than 11, since genlab's digits are 28 px), constants K1 = 0.01,
  K2 = 0.03, averaged over the valid windows and channels. 1 for identical images.
  """
  g = _gaussian_window(window, sigma)
  kernel = jnp.outer(g, g)[:, :, None, None]

  def blur(v):  # each channel alone, 'VALID' windows: [B, H', W', C]
    b, h, w, c = v.shape
    flat = jnp.moveaxis(v, -1, 1).reshape(b * c, h, w, 1)
    out = jax.lax.conv_general_dilated(flat, kernel, (1, 1), "VALID",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.moveaxis(out.reshape(b, c, *out.shape[1:3]), 1, -1)

  x, y = x.astype(jnp.float32), y.astype(jnp.float32)
  mx, my = blur(x), blur(y)
  vx = blur(x * x) - mx * mx
  vy = blur(y * y) - my * my
  cov = blur(x * y) - mx * my
  c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
  s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
  return jnp.mean(s.reshape(s.shape[0], -1), axis=-1)
