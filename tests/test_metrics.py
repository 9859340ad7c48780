"""Behaviour of genlab.metrics: FID, KID, PRDC, class statistics, linear probes."""

import math

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from genlab.metrics import probe
from genlab.metrics import sample_quality as sq


def _random_spd(rng, d, jitter=0.5):
  a = rng.normal(size=(d, d))
  return a @ a.T / d + jitter * np.eye(d)


# ----------------------------------------------------------------------------- FID


def test_frechet_identical_stats_is_zero():
  rng = np.random.default_rng(0)
  mu, sigma = sq.gaussian_stats(rng.normal(size=(200, 16)) * 3.0 + 5.0)
  assert sq.frechet_distance(mu, sigma, mu, sigma) <= 1e-8


def test_frechet_diagonal_closed_form():
  rng = np.random.default_rng(1)
  a, b = rng.uniform(0.1, 4.0, 8), rng.uniform(0.1, 4.0, 8)
  mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
  expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + np.sum((mu1 - mu2) ** 2)
  got = sq.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_commuting_covariances_closed_form():
  # Same eigenbasis, so the cross term is Σ √(a_i b_i) as in the diagonal case.
  rng = np.random.default_rng(2)
  q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
  a, b = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
  zero = np.zeros(6)
  got = sq.frechet_distance(zero, q @ np.diag(a) @ q.T, zero, q @ np.diag(b) @ q.T)
  assert got == pytest.approx(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-8)


def test_frechet_matches_sqrtm_reference():
  rng = np.random.default_rng(3)
  d = 24
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2.0 * covmean)
  assert sq.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_frechet_rank_deficient_is_finite_and_exact_for_zero_cov():
  rng = np.random.default_rng(4)
  # N < D: both covariances have rank ≤ 4 in 32 dimensions.
  mu1, s1 = sq.gaussian_stats(rng.normal(size=(5, 32)))
  mu2, s2 = sq.gaussian_stats(rng.normal(size=(5, 32)) + 0.3)
  value = sq.frechet_distance(mu1, s1, mu2, s2)
  assert np.isfinite(value) and value >= 0.0
  # A point mass against N(μ2, Σ2): the cross term vanishes exactly.
  got = sq.frechet_distance(mu1, np.zeros((32, 32)), mu2, s2)
  assert got == pytest.approx(np.sum((mu1 - mu2) ** 2) + np.trace(s2), rel=1e-10)


def test_frechet_is_symmetric():
  rng = np.random.default_rng(5)
  mu1, s1 = sq.gaussian_stats(rng.normal(size=(50, 10)))
  mu2, s2 = sq.gaussian_stats(rng.exponential(size=(50, 10)))
  forward = sq.frechet_distance(mu1, s1, mu2, s2)
  assert forward > 0.1
  assert sq.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(forward, rel=1e-9)


def test_fid_of_a_translated_set_is_the_squared_shift():
  rng = np.random.default_rng(6)
  x = rng.normal(size=(300, 12))
  shift = rng.normal(size=12)
  assert sq.fid(x, x) <= 1e-8
  assert sq.fid(x, x + shift) == pytest.approx(np.sum(shift ** 2), rel=1e-8)


# ----------------------------------------------------------------------------- KID


def _mmd2_double_loop(x, y):
  def k(a, b):
    return (np.dot(a, b) / len(a) + 1.0) ** 3

  m, n = len(x), len(y)
  kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return kxx + kyy - 2.0 * kxy


def test_mmd2_matches_double_loop():
  rng = np.random.default_rng(7)
  x, y = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)) + 0.5
  assert sq.mmd2_unbiased(x, y) == pytest.approx(_mmd2_double_loop(x, y), rel=1e-12)


def test_kid_with_whole_sets_as_subsets_is_the_double_loop():
  # subset_size ≥ both sizes: every subset is a permutation of the full sets.
  rng = np.random.default_rng(8)
  x, y = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) * 2.0
  mean, std = sq.kid(x, y, num_subsets=3, subset_size=50)
  assert mean == pytest.approx(_mmd2_double_loop(x, y), rel=1e-10)
  assert std <= 1e-10


def test_kid_near_zero_for_same_distribution_and_positive_when_shifted():
  rng = np.random.default_rng(9)
  real, same = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
  same_mean, same_std = sq.kid(real, same, num_subsets=20, subset_size=300)
  shifted_mean, _ = sq.kid(real, same + 0.5, num_subsets=20, subset_size=300)
  assert abs(same_mean) < 3 * same_std + 1e-3
  assert shifted_mean > 0.1
  assert shifted_mean > 20 * abs(same_mean)


def test_kid_is_deterministic_for_a_seed():
  rng = np.random.default_rng(10)
  x, y = rng.normal(size=(80, 5)), rng.normal(size=(90, 5))
  assert sq.kid(x, y, 5, 30, seed=1) == sq.kid(x, y, 5, 30, seed=1)
  assert sq.kid(x, y, 5, 30, seed=1) != sq.kid(x, y, 5, 30, seed=2)


# ---------------------------------------------------------------------------- PRDC


def _prdc_reference(real, fake, k):
  """Straight from the definitions, with scipy's exact distances."""
  r_real = np.sort(cdist(real, real), axis=1)[:, k]  # column 0 is the point itself
  r_fake = np.sort(cdist(fake, fake), axis=1)[:, k]
  d = cdist(real, fake)
  inside = d <= r_real[:, None]
  return {
      "precision": inside.any(axis=0).mean(),
      "recall": (d <= r_fake[None, :]).any(axis=1).mean(),
      "density": inside.sum() / (k * len(fake)),
      "coverage": inside.any(axis=1).mean(),
  }


def test_knn_radius_excludes_the_point_itself():
  np.testing.assert_allclose(sq.knn_radii(np.array([[0.0], [1.0], [3.0]]), 1), [1, 1, 2])
  # A duplicate is a neighbour at distance 0; the point itself is not.
  np.testing.assert_allclose(sq.knn_radii(np.array([[0.0], [0.0], [5.0]]), 1), [0, 0, 5])
  np.testing.assert_allclose(sq.knn_radii(np.array([[0.0], [1.0], [3.0]]), 2), [3, 2, 3])


def test_prdc_identical_sets():
  rng = np.random.default_rng(11)
  real = rng.normal(size=(300, 5)) + 100.0  # offset: round-off must not move boundaries
  fake = real[rng.permutation(len(real))]
  got = sq.prdc(real, fake, k=3)
  assert got["precision"] == got["recall"] == got["coverage"] == 1.0
  # Not 1: each real ball holds its own copy plus its k neighbours (on the boundary).
  assert got["density"] == pytest.approx(4 / 3, abs=1e-12)


def test_prdc_density_near_one_for_independent_samples_of_one_distribution():
  rng = np.random.default_rng(12)
  got = sq.prdc(rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)), k=5)
  assert 0.9 < got["density"] < 1.1
  assert min(got["precision"], got["recall"], got["coverage"]) > 0.85


def test_prdc_far_away_fake_set_scores_zero():
  rng = np.random.default_rng(13)
  got = sq.prdc(rng.normal(size=(100, 4)), rng.normal(size=(100, 4)) + 50.0, k=3)
  assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_hand_computed_1d():
  # k=1 radii: real 0,1,3,6 → 1,1,2,3; fake 0.5,2,10,11,12 → 1.5,1.5,1,1,1.
  # Real balls holding fakes: 0.5 ∈ B(0), B(1); 2 ∈ B(1) (on its boundary), B(3).
  # Real points in fake balls: 0, 1 ∈ B(0.5); 3 ∈ B(2); 6 in none.
  real = np.array([[0.0], [1.0], [3.0], [6.0]])
  fake = np.array([[0.5], [2.0], [10.0], [11.0], [12.0]])
  got = sq.prdc(real, fake, k=1)
  assert got == pytest.approx(
      {"precision": 2 / 5, "recall": 3 / 4, "density": 4 / 5, "coverage": 3 / 4})


def test_prdc_hand_computed_2d():
  # Unit square corners, k=1: every real radius is 1; (0.5, 0.5) is in all four
  # balls, (3, 3) in none. Both fake radii are |(3,3)−(0.5,0.5)| ≈ 3.5 ⊇ the square.
  real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  fake = np.array([[0.5, 0.5], [3.0, 3.0]])
  got = sq.prdc(real, fake, k=1)
  assert got == pytest.approx({"precision": 0.5, "recall": 1.0, "density": 2.0,
                               "coverage": 1.0})


def test_prdc_boundary_counts_as_inside():
  # B(1) has radius 1, and fake 2 sits exactly on it.
  got = sq.prdc(np.array([[0.0], [1.0]]), np.array([[2.0], [5.0]]), k=1)
  assert got["precision"] == 0.5
  assert got["coverage"] == 0.5


def test_prdc_one_of_two_clusters():
  rng = np.random.default_rng(14)
  centers = np.array([[0.0, 0.0], [10.0, 0.0]])
  real = np.concatenate([c + rng.normal(size=(200, 2)) for c in centers])
  fake = centers[0] + rng.normal(size=(400, 2))
  got = sq.prdc(real, fake, k=3)
  assert got["precision"] > 0.8
  assert got["recall"] < 0.6 and got["coverage"] < 0.6
  assert got["precision"] > got["recall"] + 0.25


def test_prdc_matches_reference_and_chunking_changes_nothing(monkeypatch):
  rng = np.random.default_rng(15)
  real, fake = rng.normal(size=(150, 6)), rng.normal(size=(120, 6)) * 1.3 + 0.2
  expected = _prdc_reference(real, fake, k=4)
  assert sq.prdc(real, fake, k=4) == pytest.approx(expected)
  monkeypatch.setattr(sq, "_MAX_BLOCK_ELEMENTS", 7 * 150)  # blocks of 7 or 8 rows
  assert sq.prdc(real, fake, k=4) == pytest.approx(expected)


def test_prdc_rejects_k_not_below_set_size():
  with pytest.raises(ValueError, match="k must be"):
    sq.prdc(np.zeros((3, 2)), np.ones((10, 2)), k=3)


# ----------------------------------------------------------------- class statistics


def test_class_entropy():
  assert sq.class_entropy(np.repeat(np.arange(10), 7), 10) == pytest.approx(math.log(10))
  assert sq.class_entropy(np.full(50, 3), 10) == 0.0
  assert sq.class_entropy(np.array([0, 0, 0, 1]), 4) == pytest.approx(
      -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
  with pytest.raises(ValueError, match="labels must lie"):
    sq.class_entropy(np.array([0, 10]), 10)


def test_class_accuracy():
  assert sq.class_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
  with pytest.raises(ValueError, match="shape mismatch"):
    sq.class_accuracy(np.array([1, 2]), np.array([1, 2, 3]))


# ---------------------------------------------------------------------------- probe


def _blobs(rng, centers, n_per_class):
  y = np.repeat(np.arange(len(centers)), n_per_class)
  return centers[y] + rng.normal(size=(len(y), centers.shape[1])), y


def test_select_per_class():
  labels = np.repeat(np.arange(4), [5, 8, 6, 9])
  idx = probe.select_per_class(labels, 5, seed=0)
  assert len(np.unique(idx)) == len(idx) == 20
  np.testing.assert_array_equal(np.bincount(labels[idx]), [5, 5, 5, 5])
  np.testing.assert_array_equal(idx, probe.select_per_class(labels, 5, seed=0))
  assert not np.array_equal(idx, probe.select_per_class(labels, 5, seed=1))
  with pytest.raises(ValueError, match=r"\{0: 5, 2: 6\}"):
    probe.select_per_class(labels, 7, seed=0)


def test_linear_probe_separable_data_is_solved():
  rng = np.random.default_rng(16)
  centers = rng.normal(size=(3, 20)) * 10.0
  x, y = _blobs(rng, centers, 150)
  xt, yt = _blobs(rng, centers, 50)
  got = probe.linear_probe(x, y, xt, yt, draws=2)
  assert set(got) == {"acc_10", "acc_10_std", "acc_100", "acc_100_std", "acc_all"}
  assert min(got["acc_10"], got["acc_100"], got["acc_all"]) >= 0.99


def test_linear_probe_random_labels_is_near_chance():
  rng = np.random.default_rng(17)
  x, xt = rng.normal(size=(1000, 20)), rng.normal(size=(1000, 20))
  y, yt = rng.integers(0, 5, 1000), rng.integers(0, 5, 1000)
  got = probe.linear_probe(x, y, xt, yt, budgets=(10, None), draws=3)
  assert set(got) == {"acc_10", "acc_10_std", "acc_all"}
  assert abs(got["acc_all"] - 0.2) < 0.06
  assert abs(got["acc_10"] - 0.2) < 0.06


def test_pca_codes_fitted_on_train_only():
  rng = np.random.default_rng(18)
  train = rng.normal(size=(200, 10)) * np.arange(1, 11)
  test = train[:50] + 1000.0  # would dominate the fit if it leaked into it
  codes_tr, codes_te = probe.pca_codes(train, test, k=3)
  assert codes_tr.shape == (200, 3) and codes_te.shape == (50, 3)
  np.testing.assert_allclose(codes_tr.mean(axis=0), 0.0, atol=1e-9)
  variances = codes_tr.var(axis=0)
  assert variances[0] > variances[1] > variances[2]
  # Same affine map for both splits: the shift shows up as one constant offset.
  offset = codes_te - codes_tr[:50]
  np.testing.assert_allclose(offset, np.broadcast_to(offset[0], offset.shape), atol=1e-8)


def test_laplacian_variance_closed_forms_and_blur():
  flat = np.full((1, 8, 8), 0.3)
  board = (np.indices((8, 8)).sum(0) % 2).astype(np.float64)[None]
  # A checkerboard's interior Laplacian is ±4 with both signs equally often: variance 16.
  np.testing.assert_allclose(sq.laplacian_variance(flat), [0.0])
  np.testing.assert_allclose(sq.laplacian_variance(board), [16.0])
  rng = np.random.default_rng(0)
  sharp = rng.uniform(size=(4, 16, 16, 1))
  blurred = (sharp + np.roll(sharp, 1, 1) + np.roll(sharp, 1, 2)
             + np.roll(sharp, (1, 1), (1, 2))) / 4
  assert sq.sharpness_ratio(blurred, sharp) < 0.5
  assert sq.sharpness_ratio(sharp, sharp) == pytest.approx(1.0)
  u8 = (board[..., None] * 255).astype(np.uint8)
  np.testing.assert_allclose(sq.laplacian_variance(u8), [16.0])
