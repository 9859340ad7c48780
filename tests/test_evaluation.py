"""Evaluation helpers: PCA baseline, figure layouts, interpolation, test pairs."""

import signal

import numpy as np
import pytest

from genlab.evaluation import figures
from genlab.evaluation.autoencoder import pca_baseline_mse
from genlab.writers import image_grid


def test_pca_baseline_matches_projection_by_hand():
  rs = np.random.RandomState(0)
  train = rs.randint(0, 256, size=(300, 4, 4, 1)).astype(np.uint8)
  test = rs.randint(0, 256, size=(50, 4, 4, 1)).astype(np.uint8)
  x_tr = train.reshape(300, -1) / 255.0
  x_te = test.reshape(50, -1) / 255.0
  mean = x_tr.mean(0)
  _, _, vt = np.linalg.svd(x_tr - mean, full_matrices=False)
  for k in (1, 3, 8):
    v = vt[:k].T
    recon = (x_te - mean) @ v @ v.T + mean
    expected = np.mean((recon - x_te) ** 2)
    assert pca_baseline_mse(train, test, k) == pytest.approx(expected, rel=1e-4)
  # More components never hurt; all 16 reconstruct exactly.
  errs = [pca_baseline_mse(train, test, k) for k in (1, 4, 8, 16)]
  assert errs == sorted(errs, reverse=True)
  assert errs[-1] < 1e-10


def test_interpolation_codes_endpoints_and_midpoint():
  h1 = np.array([[0.0, 2.0], [1.0, 1.0]])
  h2 = np.array([[4.0, -2.0], [3.0, 5.0]])
  codes = figures.interpolation_codes(h1, h2, 5).reshape(2, 5, 2)
  np.testing.assert_allclose(codes[:, 0], h1)  # α = 1 first
  np.testing.assert_allclose(codes[:, -1], h2)
  np.testing.assert_allclose(codes[:, 2], (h1 + h2) / 2)
  # Equal steps along the segment.
  np.testing.assert_allclose(np.diff(codes, axis=1), np.broadcast_to((h2 - h1)[:, None] / 4,
                                                                     (2, 4, 2)))


def test_image_grid_layout():
  images = np.stack([np.full((2, 3, 1), v) for v in (0.0, 0.25, 0.5, 2.0, -1.0)])
  grid = image_grid(images, ncol=3, pad=1)
  assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1) and grid.dtype == np.uint8
  tile = lambda i: grid[1 + (i // 3) * 3:1 + (i // 3) * 3 + 2, 1 + (i % 3) * 4:1 + (i % 3) * 4 + 3]
  assert [int(tile(i).mean()) for i in range(5)] == [0, 64, 128, 255, 0]  # clipped to [0, 1]
  assert (grid[0] == 255).all() and (grid[:, 0] == 255).all()  # padding is white
  assert (tile(5) == 255).all()  # the unused sixth cell stays blank


def test_pick_pairs_have_different_labels_and_are_fixed():
  labels = np.repeat(np.arange(3), 4)
  pairs = figures.pick_pairs(labels, 6)
  assert pairs.shape == (6, 2)
  assert all(labels[i] != labels[j] for i, j in pairs)
  np.testing.assert_array_equal(pairs, figures.pick_pairs(labels, 6))


def test_pick_pairs_terminates_without_two_classes():
  # Unlabelled tfds sets get label -1 for every example (genlab/data/catalog.py).
  def _timeout(signum, frame):
    raise TimeoutError

  previous = signal.signal(signal.SIGALRM, _timeout)
  signal.setitimer(signal.ITIMER_REAL, 1.0)
  try:
    pairs = figures.pick_pairs(np.full(100, -1), 6)
    assert pairs.shape == (6, 2)
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)
