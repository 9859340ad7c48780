"""Statistics of the on-device pixel transforms (noise, binarization)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlab.data import transforms

_N = 1_000_000  # big enough that sampling error is well below the tolerances


def _positive_pixels(seed: int = 0) -> jax.Array:
  # Strictly positive, so every zero in the output was put there by the mask.
  return jax.random.uniform(jax.random.key(seed), (_N // 1000, 1000), minval=0.05, maxval=1.0)


@pytest.mark.parametrize("v", [0.25, 0.5])
def test_masking_noise_zero_fraction(v):
  x = _positive_pixels()
  out = transforms.mask_noise(jax.random.key(1), x, v)
  zeros = np.asarray(out) == 0.0
  sigma = math.sqrt(v * (1 - v) / _N)
  assert abs(zeros.mean() - v) < 5 * sigma
  # Kept values are untouched.
  np.testing.assert_array_equal(np.asarray(out)[~zeros], np.asarray(x)[~zeros])
  # Through `corrupt` too (masking only).
  via_corrupt = transforms.corrupt(jax.random.key(2), x, v, 0.0)
  assert abs(float(jnp.mean(via_corrupt == 0.0)) - v) < 5 * sigma


def test_masking_noise_depends_on_key():
  x = _positive_pixels()
  a = transforms.mask_noise(jax.random.key(1), x, 0.5)
  b = transforms.mask_noise(jax.random.key(1), x, 0.5)
  c = transforms.mask_noise(jax.random.key(2), x, 0.5)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize("std", [0.05, 0.1])
def test_gaussian_noise_std_away_from_clipping(std):
  x = jnp.full((_N // 1000, 1000), 0.5, jnp.float32)  # ≥ 5σ from 0 and 1
  out = np.asarray(transforms.gaussian_noise(jax.random.key(0), x, std), np.float64)
  diff = out - 0.5
  assert abs(diff.mean()) < 5 * std / math.sqrt(_N)
  # The sample std of N normals has standard error ≈ σ/√(2N).
  assert abs(diff.std() - std) < 5 * std / math.sqrt(2 * _N)


def test_gaussian_noise_clips_to_pixel_range():
  x = jnp.tile(jnp.asarray([0.0, 0.02, 0.98, 1.0], jnp.float32), (10_000, 1))
  out = np.asarray(transforms.gaussian_noise(jax.random.key(0), x, 0.3))
  assert out.min() == 0.0 and out.max() == 1.0  # both bounds are hit, never crossed


def test_binarize_values_and_mean():
  levels = jnp.asarray([0.0, 0.1, 0.5, 0.9, 1.0], jnp.float32)
  x = jnp.tile(levels, (_N // 5, 1))
  out = np.asarray(transforms.binarize(jax.random.key(0), x))
  assert out.dtype == np.float32
  assert set(np.unique(out).tolist()) == {0.0, 1.0}
  col_mean = out.mean(axis=0)
  tol = 5 * math.sqrt(0.25 / (_N // 5))
  np.testing.assert_allclose(col_mean, np.asarray(levels), atol=tol)
  assert col_mean[0] == 0.0 and col_mean[-1] == 1.0  # deterministic at the ends


def test_corrupt_with_zero_strengths_is_identity():
  x = jax.random.uniform(jax.random.key(0), (8, 28, 28, 1))
  out = transforms.corrupt(jax.random.key(5), x, 0.0, 0.0)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(x))


def test_corrupt_with_both_noises_masks_then_adds_gaussian():
  x = jnp.full((_N // 1000, 1000), 0.5, jnp.float32)
  out = np.asarray(transforms.corrupt(jax.random.key(7), x, 0.5, 0.05))
  # Masked pixels (0) then receive Gaussian noise clipped at 0: about half of them
  # stay exactly 0, the rest are small positives; unmasked pixels stay around 0.5.
  low = out < 0.25
  assert abs(low.mean() - 0.5) < 0.005
  assert abs((out == 0.0).mean() - 0.25) < 0.005
  assert abs(out[~low].mean() - 0.5) < 0.001
