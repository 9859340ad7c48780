"""Perceptual path length (Karras et al. 2019), in a domain feature net's space.

A latent space is smooth when a small step along a path between two latents moves the
image by a small, steady amount. For paths z(t) between z₀ and z₁ (both drawn from the
model's latent distribution) and t ~ U(0, 1 − ε):

  PPL = E[ ‖φ(g(z(t + ε))) − φ(g(z(t)))‖² / ε² ],

with g the decoder or generator and φ the feature net's penultimate features (StyleGAN
used LPIPS; a domain classifier's features are genlab's perceptual space, as for dFID).
As StyleGAN does, the mean drops the paths below the 1st and above the 99th percentile.

The straight-line value ‖φ(g(z₁)) − φ(g(z₀))‖² is reported beside it: by Jensen,
E_t‖dφ/dt‖² ≥ ‖φ(1) − φ(0)‖² per path, with equality exactly when the features move along
a straight line at constant speed, so `ppl / ppl_straight` ≥ 1 (up to the sampling of t)
is a scale-free measure of how far a path is from the smoothest one.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

INTERPOLATIONS = ("lerp", "slerp")
TRIM_PERCENTILES = (1.0, 99.0)


def interpolate(z0: np.ndarray, z1: np.ndarray, t: np.ndarray, kind: str) -> np.ndarray:
  """Points at fractions t [N] of the paths z0 → z1 [N, D]: linear or spherical.

  slerp follows the great circle between the directions and interpolates the norms
  linearly (Shoemake's slerp on the unit sphere, as StyleGAN's Z-space PPL).
  """
  z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
  t = np.asarray(t, np.float64)[:, None]
  if kind == "lerp":
    return z0 + t * (z1 - z0)
  if kind != "slerp":
    raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {kind!r}")
  n0 = np.linalg.norm(z0, axis=-1, keepdims=True)
  n1 = np.linalg.norm(z1, axis=-1, keepdims=True)
  u0, u1 = z0 / n0, z1 / n1
  omega = np.arccos(np.clip(np.sum(u0 * u1, -1, keepdims=True), -1.0, 1.0))
  sin = np.sin(omega)
  safe = np.where(sin < 1e-7, 1.0, sin)
  direction = np.where(sin < 1e-7, u0 + t * (u1 - u0),
                       (np.sin((1 - t) * omega) * u0 + np.sin(t * omega) * u1) / safe)
  return direction * (n0 + t * (n1 - n0))


def path_lengths(decode: Callable[[np.ndarray], np.ndarray],
                 embed: Callable[[np.ndarray], np.ndarray], z0: np.ndarray, z1: np.ndarray,
                 t: np.ndarray, eps: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
  """Per-path squared feature speeds and straight-line lengths.

  Args:
    decode: latents [N, D] (float32) -> outputs (images in [0, 1]).
    embed: outputs -> features [N, F].
    z0, z1: path ends [N, D].
    t: path positions [N] in [0, 1 − eps].
    eps: the finite-difference step.
    kind: 'lerp' or 'slerp'.
  Returns:
    ([N] ‖φ(z(t+ε)) − φ(z(t))‖² / ε², [N] ‖φ(z₁) − φ(z₀)‖²), float64.
  """
  if not 0 < eps < 1:
    raise ValueError(f"eps must be in (0, 1), got {eps}")
  a = interpolate(z0, z1, t, kind).astype(np.float32)
  b = interpolate(z0, z1, t + eps, kind).astype(np.float32)
  fa, fb = (np.asarray(embed(decode(x)), np.float64) for x in (a, b))
  speed = np.sum(np.square(fb - fa), axis=-1) / eps ** 2
  e0, e1 = (np.asarray(embed(decode(np.asarray(z, np.float32))), np.float64) for z in (z0, z1))
  return speed, np.sum(np.square(e1 - e0), axis=-1)


def trimmed_mean(values: np.ndarray) -> float:
  """The mean of the values between the 1st and 99th percentiles (StyleGAN's filter)."""
  values = np.asarray(values, np.float64)
  lo, hi = np.percentile(values, TRIM_PERCENTILES)
  return float(np.mean(values[(values >= lo) & (values <= hi)]))


def perceptual_path_length(decode, embed, sample_latents: Callable[[np.random.Generator, int],
                                                                   np.ndarray],
                           num_paths: int, eps: float = 1e-4, kind: str = "lerp",
                           seed: int = 0, batch: int = 250) -> dict:
  """`samples/ppl` and `samples/ppl_straight` (trimmed means) with their protocol.

  Args:
    decode, embed: as in `path_lengths`.
    sample_latents: (numpy Generator, n) -> n latents [n, D] from the model's latent
      distribution.
    num_paths: paths measured.
    eps, kind: the finite difference and the interpolation.
    seed: seeds the latents and the positions t.
    batch: paths decoded at once.
  """
  if num_paths < 2:
    raise ValueError(f"num_paths must be ≥ 2, got {num_paths}")
  rng = np.random.default_rng(seed)
  z0, z1 = sample_latents(rng, num_paths), sample_latents(rng, num_paths)
  t = rng.uniform(0.0, 1.0 - eps, num_paths)
  # Every call decodes `batch` paths (the last one padded), so a jitted decoder compiles once.
  batch = min(batch, num_paths)
  pad = -num_paths % batch
  z0, z1, t = (np.concatenate([v, np.repeat(v[-1:], pad, 0)]) for v in (z0, z1, t))
  parts = [path_lengths(decode, embed, z0[s:s + batch], z1[s:s + batch], t[s:s + batch],
                        eps, kind) for s in range(0, len(t), batch)]
  speeds = np.concatenate([p[0] for p in parts])[:num_paths]
  straight = np.concatenate([p[1] for p in parts])[:num_paths]
  return {"samples/ppl": trimmed_mean(speeds),
          "samples/ppl_straight": trimmed_mean(straight),
          "protocol/ppl_eps": float(eps),
          "protocol/ppl_paths": int(num_paths),
          "protocol/ppl_interpolation": kind}
