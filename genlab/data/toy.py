"""Toy 2-D Gaussian mixtures of the PacGAN mode-collapse protocol.

* ring8: 8 modes on the unit circle at angles 2πk/8, σ = 0.01.
* grid25: 25 modes on {−4, −2, 0, 2, 4}², σ = 0.05.

Both are equal-weight mixtures of isotropic Gaussians (Lin et al., 2018,
"PacGAN: The power of two samples in generative adversarial networks").

`sample` is a pure function of (name, n, seed) on every machine and NumPy
release: like the embedded sets' test split, it draws its randomness from a
fixed integer hash of (seed, index) rather than from `np.random`, whose
Generator streams NumPy does not promise to keep. Sample i depends only on
(seed, i), so the first m samples of a larger draw equal a draw of m.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from genlab.data.embedded import _splitmix64  # pylint: disable=protected-access

# The datasets' train and test splits are these draws; they must never change.
TRAIN_SEED = 0
TEST_SEED = 1
NUM_TRAIN = 100_000
NUM_TEST = 10_000

_STREAMS = 3  # Independent hash streams per sample: mode, radius, angle.


@dataclasses.dataclass(frozen=True, eq=False)
class ToySpec:
  """An equal-weight mixture of isotropic 2-D Gaussians.

  Attributes:
    centers: float64 [K, 2] mode means (read-only).
    sigma: per-coordinate standard deviation, shared by all modes.
  """

  centers: np.ndarray
  sigma: float

  @property
  def num_modes(self) -> int:
    return int(self.centers.shape[0])


def _frozen(centers: np.ndarray) -> np.ndarray:
  # The specs are module-level constants; a caller writing into them would
  # silently change every later metric.
  centers = np.ascontiguousarray(centers, dtype=np.float64)
  centers.setflags(write=False)
  return centers


def _ring(k: int, radius: float) -> np.ndarray:
  angles = 2.0 * np.pi * np.arange(k) / k
  return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid(values: np.ndarray) -> np.ndarray:
  # Row-major: mode index = 5·i + j for (x, y) = (values[i], values[j]).
  xs, ys = np.meshgrid(values, values, indexing='ij')
  return np.stack([xs.ravel(), ys.ravel()], axis=1)


TOY_SETS: dict[str, ToySpec] = {
    'ring8': ToySpec(_frozen(_ring(8, 1.0)), sigma=0.01),
    'grid25': ToySpec(_frozen(_grid(np.arange(-4.0, 5.0, 2.0))), sigma=0.05),
}


def _uniform53(bits: np.ndarray) -> np.ndarray:
  """[0, 1) float64 from the top 53 bits, so every value is exact."""
  return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def sample(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Draws n points of a toy set, each from a uniformly chosen mode.

  Args:
    name: a key of `TOY_SETS`.
    n: number of points.
    seed: selects a different, equally fixed, draw (any integer ≥ 0).

  Returns:
    points: float32 [n, 2]; mode: int64 [n], the mode each point came from.
  """
  if name not in TOY_SETS:
    raise KeyError(f"unknown toy set '{name}'; known: {sorted(TOY_SETS)}")
  if seed < 0:
    raise ValueError(f'seed must be ≥ 0, got {seed}')
  spec = TOY_SETS[name]
  base = _splitmix64(np.array([seed], dtype=np.uint64))[0]
  counters = np.arange(n, dtype=np.uint64)[:, None] * np.uint64(_STREAMS)
  counters = counters + np.arange(_STREAMS, dtype=np.uint64)
  bits = _splitmix64(counters ^ base)  # [n, streams]
  # Modulo bias is (2^64 mod K) / 2^64 < 1e-17: uniform for any K used here.
  mode = (bits[:, 0] % np.uint64(spec.num_modes)).astype(np.int64)
  # Box–Muller in polar form: radius and angle give an exactly isotropic
  # 2-D standard normal. 1 − u lies in (0, 1], so the log is finite.
  radius = np.sqrt(-2.0 * np.log1p(-_uniform53(bits[:, 1])))
  angle = 2.0 * np.pi * _uniform53(bits[:, 2])
  noise = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
  points = spec.centers[mode] + spec.sigma * noise
  return points.astype(np.float32), mode
