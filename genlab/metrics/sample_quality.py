"""Sample-quality metrics on classifier features: FID, KID, PRDC, class stats.

Inputs are feature matrices [N, D] (a domain classifier's penultimate layer) or
predicted labels. Everything is plain numpy in float64: these are small dense
problems (N ≤ ~10k, D ≤ ~2k) where float32 cancellation in covariances,
cubic kernels and ‖a‖²+‖b‖²−2ab distances would cost more than the speed-up.

References:
  FID: Heusel et al. 2017. KID: Bińkowski et al. 2018, "Demystifying MMD GANs".
  Precision/recall: Kynkäänniemi et al. 2019. Density/coverage: Naeem et al.
  2020, "Reliable Fidelity and Diversity Metrics for Generative Models".
"""

from __future__ import annotations

import numpy as np

# Rows of one set per pairwise-distance block; 5,000 columns × 1,024 rows of
# float64 is 40 MB, so a 5k×5k PRDC never materializes the 200 MB full matrix.
_MAX_BLOCK_ELEMENTS = 1 << 22
# Slack on "inside a ball", relative to ‖a‖²+‖b‖² (the scale of the identity's
# float64 round-off, ~1e-16 of it): ties on the boundary then count as inside.
_BOUNDARY_RTOL = 1e-12


def _as_features(x: np.ndarray, name: str) -> np.ndarray:
  x = np.asarray(x, dtype=np.float64)
  if x.ndim != 2 or len(x) == 0:
    raise ValueError(f"{name} must be a non-empty [N, D] matrix, got shape {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf")
  return x


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean [D] and covariance [D, D] (unbiased, N−1) of features, in float64."""
  x = _as_features(features, "features")
  if len(x) < 2:
    raise ValueError("a covariance needs at least 2 feature vectors")
  return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
  """tr((Σ1^½ Σ2 Σ1^½)^½) for symmetric PSD Σ1, Σ2.

  Σ1^½ Σ2 Σ1^½ is symmetric PSD and similar to Σ1 Σ2, so its eigenvalues are the
  ones sqrtm(Σ1 Σ2) would need; eigh keeps everything real and clipping removes
  the tiny negative eigenvalues that rank-deficient covariances produce.
  """
  w1, v1 = np.linalg.eigh(sigma1)
  sqrt1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
  middle = sqrt1 @ sigma2 @ sqrt1
  middle = 0.5 * (middle + middle.T)  # round-off breaks symmetry; eigh assumes it
  w = np.linalg.eigvalsh(middle)
  return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """Fréchet (2-Wasserstein²) distance between N(μ1, Σ1) and N(μ2, Σ2).

  ‖μ1−μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), clamped at 0 against round-off.
  Finite for singular covariances (e.g. fewer samples than features), unlike
  scipy.linalg.sqrtm of Σ1 Σ2, which returns complex parts or NaNs there.
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
    raise ValueError(f"shape mismatch: mu {mu1.shape}, {mu2.shape}; "
                     f"sigma {sigma1.shape}, {sigma2.shape}")
  sigma1 = 0.5 * (sigma1 + sigma1.T)
  sigma2 = 0.5 * (sigma2 + sigma2.T)
  diff = mu1 - mu2
  value = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
           - 2.0 * _trace_sqrt_product(sigma1, sigma2))
  return max(float(value), 0.0)


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to the two feature sets."""
  real = _as_features(real_features, "real_features")
  fake = _as_features(fake_features, "fake_features")
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"feature dims differ: {real.shape[1]} vs {fake.shape[1]}")
  return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD² with the cubic polynomial kernel between samples x and y.

  The within-set sums leave out the diagonal k(x_i, x_i); that is what makes the
  estimator unbiased (and able to go slightly negative for equal distributions).
  """
  m, n = len(x), len(y)
  if m < 2 or n < 2:
    raise ValueError("unbiased MMD² needs at least 2 samples per set")
  kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
  term_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
  term_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
  return float(term_x + term_y - 2.0 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """Kernel Inception Distance: unbiased MMD² averaged over random subsets.

  Each subset draws min(subset_size, len(real), len(fake)) rows of each set
  without replacement, as in Bińkowski et al. 2018 and torch-fidelity.

  Returns:
    (mean, std) over the subsets; std is the population std (ddof=0).
  """
  real = _as_features(real, "real")
  fake = _as_features(fake, "fake")
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"feature dims differ: {real.shape[1]} vs {fake.shape[1]}")
  if num_subsets < 1:
    raise ValueError(f"num_subsets must be ≥ 1, got {num_subsets}")
  m = min(subset_size, len(real), len(fake))
  rng = np.random.default_rng(seed)
  values = np.array([
      mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                    fake[rng.choice(len(fake), m, replace=False)])
      for _ in range(num_subsets)
  ])
  return float(values.mean()), float(values.std())


def _row_blocks(num_rows: int, num_cols: int):
  step = max(1, _MAX_BLOCK_ELEMENTS // max(num_cols, 1))
  for start in range(0, num_rows, step):
    yield slice(start, min(start + step, num_rows))


def _sq_dists(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray,
              b_sq: np.ndarray) -> np.ndarray:
  # Clipped: cancellation can make ‖a‖²+‖b‖²−2ab slightly negative for near points.
  return np.maximum(a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T), 0.0)


def _knn_sq_radii(x: np.ndarray, k: int) -> np.ndarray:
  if not 1 <= k < len(x):
    raise ValueError(f"k must be in [1, N−1] = [1, {len(x) - 1}], got {k}")
  sq = np.einsum("ij,ij->i", x, x)
  radii = np.empty(len(x))
  for rows in _row_blocks(len(x), len(x)):
    d2 = _sq_dists(x[rows], x, sq[rows], sq)
    d2[np.arange(d2.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
    radii[rows] = np.partition(d2, k - 1, axis=1)[:, k - 1]
  return radii


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
  """Distance from each row of x to its k-th nearest other row of x.

  The point itself is excluded by index, not by distance, so exact duplicates
  still count as neighbours at distance 0.
  """
  x = _as_features(x, "x")
  return np.sqrt(_knn_sq_radii(x - x.mean(axis=0), k))


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
  """Precision, recall, density and coverage with k-NN balls.

  Each point's ball has radius = distance to its k-th nearest neighbour within
  its own set; a point on a ball's boundary counts as inside.
    precision: share of fake points inside some real ball.
    recall:    share of real points inside some fake ball.
    density:   (1/(kM)) Σ_j #{real balls containing fake_j}; ≈ 1 when both are
               independent samples of one distribution (not for identical sets:
               there each real ball holds its own point plus k others → (k+1)/k).
    coverage:  share of real balls that contain at least one fake point.

  Args:
    real: [N, D] features of real data.
    fake: [M, D] features of generated data.
    k: neighbourhood size; needs N > k and M > k.

  Returns:
    {'precision', 'recall', 'density', 'coverage'} as floats.
  """
  real = _as_features(real, "real")
  fake = _as_features(fake, "fake")
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"feature dims differ: {real.shape[1]} vs {fake.shape[1]}")
  # Distances are shift-invariant; centring shrinks the norms whose cancellation
  # in ‖a‖²+‖b‖²−2ab is the round-off (features often sit far from the origin).
  center = real.mean(axis=0)
  real, fake = real - center, fake - center
  # Squared radii against squared distances: no sqrt round trip at the boundary.
  real_r2 = _knn_sq_radii(real, k)
  fake_r2 = _knn_sq_radii(fake, k)
  real_sq = np.einsum("ij,ij->i", real, real)
  fake_sq = np.einsum("ij,ij->i", fake, fake)

  balls_per_fake = np.zeros(len(fake), dtype=np.int64)
  real_in_fake_ball = np.zeros(len(real), dtype=bool)
  real_ball_hit = np.zeros(len(real), dtype=bool)
  for rows in _row_blocks(len(real), len(fake)):
    d2 = _sq_dists(real[rows], fake, real_sq[rows], fake_sq)  # [rows, M]
    # A ball's k-th neighbour lies exactly on its boundary, and the same pair can
    # come out a few ulps apart from different matmul blocks: allow round-off.
    d2 -= _BOUNDARY_RTOL * (real_sq[rows, None] + fake_sq[None, :])
    in_real_ball = d2 <= real_r2[rows, None]
    balls_per_fake += in_real_ball.sum(axis=0)
    real_ball_hit[rows] = in_real_ball.any(axis=1)
    real_in_fake_ball[rows] = (d2 <= fake_r2[None, :]).any(axis=1)
  return {
      "precision": float(np.mean(balls_per_fake > 0)),
      "recall": float(np.mean(real_in_fake_ball)),
      "density": float(balls_per_fake.sum() / (k * len(fake))),
      "coverage": float(np.mean(real_ball_hit)),
  }


def _as_labels(labels: np.ndarray, name: str) -> np.ndarray:
  labels = np.asarray(labels)
  if labels.ndim != 1 or len(labels) == 0:
    raise ValueError(f"{name} must be a non-empty 1-D array, got shape {labels.shape}")
  if not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{name} must be integer class ids, got {labels.dtype}")
  return labels


def class_entropy(predicted_labels: np.ndarray, num_classes: int) -> float:
  """Entropy in nats of the predicted-class histogram; log K = all K equally present."""
  labels = _as_labels(predicted_labels, "predicted_labels")
  if labels.min() < 0 or labels.max() >= num_classes:
    raise ValueError(f"labels must lie in [0, {num_classes}), got "
                     f"[{labels.min()}, {labels.max()}]")
  p = np.bincount(labels, minlength=num_classes) / len(labels)
  p = p[p > 0]  # 0·log 0 = 0
  return float(-np.sum(p * np.log(p))) + 0.0  # + 0.0: a single class gives 0.0, not -0.0


def class_accuracy(predicted_labels: np.ndarray, requested_labels: np.ndarray) -> float:
  """Share of samples whose predicted class is the one the sampler was asked for."""
  pred = _as_labels(predicted_labels, "predicted_labels")
  req = _as_labels(requested_labels, "requested_labels")
  if pred.shape != req.shape:
    raise ValueError(f"shape mismatch: {pred.shape} vs {req.shape}")
  return float(np.mean(pred == req))


def laplacian_variance(images: np.ndarray) -> np.ndarray:
  """Per-image variance of the 4-neighbour Laplacian over interior pixels: [N].

  A standard focus measure (Pech-Pacheco et al. 2000): blur removes high frequencies
  and lowers it; a constant image scores 0. `images`: [N, H, W(, C)] in [0, 1] (or
  uint8, scaled to [0, 1]); channels are averaged first.
  """
  x = np.asarray(images)
  x = x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
  if x.ndim == 4:
    x = x.mean(-1)
  if x.ndim != 3 or min(x.shape[1:]) < 3:
    raise ValueError(f"images must be [N, H, W(, C)] with H, W ≥ 3, got {np.shape(images)}")
  lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
         - 4 * x[:, 1:-1, 1:-1])
  return lap.reshape(len(x), -1).var(axis=1)


def sharpness_ratio(fake: np.ndarray, real: np.ndarray) -> float:
  """Mean Laplacian variance of the samples over that of real images: 1 = as sharp as
  the data, below 1 = blurrier."""
  return float(laplacian_variance(fake).mean() / laplacian_variance(real).mean())
