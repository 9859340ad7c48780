"""Toy 2-D mixtures (ring8, grid25): sampler, datasets, mode metrics, figure."""

import math
import pickle

import numpy as np
import pytest

import genlab.data as gd
from genlab.data import toy
from genlab.evaluation.figures_2d import scatter_over_modes
from genlab.metrics.modes import (PROTOCOL_SAMPLES, evaluate_toy, mode_metrics,
                                  nearest_modes)

GRID = toy.TOY_SETS['grid25']


# ------------------------------------------------------------------ sampler


def test_specs():
  ring = toy.TOY_SETS['ring8']
  assert ring.centers.shape == (8, 2) and ring.sigma == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 1.0)
  np.testing.assert_allclose(ring.centers[2], [0.0, 1.0], atol=1e-15)
  assert GRID.centers.shape == (25, 2) and GRID.sigma == 0.05
  assert sorted(set(GRID.centers[:, 0])) == [-4.0, -2.0, 0.0, 2.0, 4.0]
  assert len({tuple(c) for c in GRID.centers}) == 25
  with pytest.raises(ValueError):
    GRID.centers[0, 0] = 1.0  # Shared constants are read-only.


def test_sample_is_deterministic_and_prefix_stable():
  points, mode = toy.sample('grid25', 1000, seed=5)
  assert points.shape == (1000, 2) and points.dtype == np.float32
  assert mode.shape == (1000,) and mode.dtype == np.int64
  assert mode.min() >= 0 and mode.max() < 25
  again = toy.sample('grid25', 1000, seed=5)
  np.testing.assert_array_equal(points, again[0])
  np.testing.assert_array_equal(mode, again[1])
  prefix = toy.sample('grid25', 10, seed=5)
  np.testing.assert_array_equal(points[:10], prefix[0])
  assert not np.array_equal(points, toy.sample('grid25', 1000, seed=6)[0])
  with pytest.raises(KeyError, match='ring8'):
    toy.sample('ring9', 10, 0)


# ------------------------------------------------------------------ metrics


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_true_distribution_recovers_every_mode(name):
  points, _ = toy.sample(name, PROTOCOL_SAMPLES, seed=123)
  metrics = evaluate_toy(name, points)
  assert metrics['modes'] == toy.TOY_SETS[name].num_modes
  # 2-D Gaussian mass within 3σ is 1 − e^(−4.5) ≈ 0.989.
  assert metrics['hq_fraction'] >= 0.98
  assert 0.0 <= metrics['reverse_kl'] < 0.05
  assert metrics['protocol/n_fake'] == PROTOCOL_SAMPLES
  assert isinstance(metrics['modes'], int)
  assert isinstance(metrics['hq_fraction'], float)


def test_missing_modes_are_counted():
  dropped = [0, 6, 12, 18, 24]
  points, mode = toy.sample('grid25', 4000, seed=7)
  kept = points[~np.isin(mode, dropped)][:PROTOCOL_SAMPLES]
  assert len(kept) == PROTOCOL_SAMPLES
  metrics = evaluate_toy('grid25', kept)
  assert metrics['modes'] == 20
  assert metrics['hq_fraction'] >= 0.98
  # Uniform over 20 of 25 modes: KL = log(25 / 20), up to sampling noise.
  assert metrics['reverse_kl'] == pytest.approx(math.log(25 / 20), abs=0.02)


def test_collapse_onto_one_mode():
  rng = np.random.default_rng(0)
  points = GRID.centers[7] + GRID.sigma * rng.normal(size=(PROTOCOL_SAMPLES, 2))
  metrics = mode_metrics(points, GRID.centers, GRID.sigma)
  assert metrics['modes'] == 1
  assert abs(metrics['reverse_kl'] - math.log(25)) < 1e-9


def test_samples_away_from_modes_are_low_quality():
  rng = np.random.default_rng(1)
  # Every sample exactly 10σ from a random mode: its nearest mode (spacing 2
  # ≫ 10σ = 0.5) but far outside the 3σ HQ region.
  angle = rng.uniform(0, 2 * np.pi, PROTOCOL_SAMPLES)
  offset = 10 * GRID.sigma * np.stack([np.cos(angle), np.sin(angle)], axis=1)
  points = GRID.centers[rng.integers(0, 25, PROTOCOL_SAMPLES)] + offset
  metrics = mode_metrics(points, GRID.centers, GRID.sigma)
  assert metrics == {'modes': 0, 'hq_fraction': 0.0,
                     'reverse_kl': pytest.approx(math.log(25), abs=1e-12)}
  # Uniform noise over the grid's square: HQ only by chance (area ≈ 1.8 %).
  uniform = rng.uniform(-5, 5, size=(PROTOCOL_SAMPLES, 2))
  assert evaluate_toy('grid25', uniform)['hq_fraction'] < 0.05


def test_handcrafted_assignment_and_threshold():
  centers = np.array([[0.0, 0.0], [2.0, 0.0]])
  sigma = 0.25  # 3σ = 0.75 exactly, so the boundary is exact in float64.
  points = np.array([
      [0.75, 0.0],    # mode 0, distance exactly 3σ: HQ (inclusive).
      [0.0, 0.76],    # mode 0, just outside.
      [1.4, 0.0],     # mode 1, 0.6 away: HQ.
      [2.0, -0.75],   # mode 1, exactly 3σ: HQ.
      [0.9, 0.0],     # mode 0, 0.9 away.
      [1.0, 0.0],     # tie: the lower index wins; not HQ.
      [np.nan, 0.0],  # diverged sample: never HQ.
  ])
  index, distance = nearest_modes(points[:-1], centers)
  np.testing.assert_array_equal(index, [0, 0, 1, 1, 0, 0])
  np.testing.assert_allclose(distance, [0.75, 0.76, 0.6, 0.75, 0.9, 1.0])
  metrics = mode_metrics(points, centers, sigma)
  assert metrics['modes'] == 2
  assert metrics['hq_fraction'] == pytest.approx(3 / 7)
  # HQ histogram [1, 2] / 3 against uniform over 2 modes.
  expected = (1 / 3) * math.log(2 / 3) + (2 / 3) * math.log(4 / 3)
  assert metrics['reverse_kl'] == pytest.approx(expected, abs=1e-12)
  with pytest.raises(ValueError):
    mode_metrics(np.zeros((0, 2)), centers, sigma)
  with pytest.raises(ValueError, match='ring8'):
    evaluate_toy('ring9', points)


# ------------------------------------------------------------------ datasets


@pytest.fixture(scope='module')
def arrays():
  """{name: {split: (points, labels)}}, each split read once."""
  return {name: {split: gd.load_arrays(name, split) for split in ('train', 'test')}
          for name in ('ring8', 'grid25')}


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_splits_match_the_seeded_draws(arrays, name):
  for split, n, seed in (('train', 100_000, toy.TRAIN_SEED),
                         ('test', 10_000, toy.TEST_SEED)):
    points, labels = arrays[name][split]
    assert points.shape == (n, 2) and points.dtype == np.float32
    assert labels.shape == (n,) and labels.dtype == np.int64
    # Record k is draw k: content, order and labels survive tfds unchanged.
    expected = toy.sample(name, n, seed)
    np.testing.assert_array_equal(points, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
  assert not np.array_equal(arrays[name]['train'][0][:10_000],
                            arrays[name]['test'][0])


@pytest.mark.parametrize('name', ['ring8', 'grid25'])
def test_labels_are_nearest_modes(arrays, name):
  points, labels = arrays[name]['train']
  nearest, _ = nearest_modes(points, toy.TOY_SETS[name].centers)
  assert np.mean(nearest == labels) >= 0.999
  assert set(np.unique(labels)) == set(range(toy.TOY_SETS[name].num_modes))


def test_second_prepare_is_identical(arrays, tmp_path):
  again = gd.load_arrays('ring8', 'test', data_dir=str(tmp_path))
  np.testing.assert_array_equal(again[0], arrays['ring8']['test'][0])
  np.testing.assert_array_equal(again[1], arrays['ring8']['test'][1])


def test_source_records_and_info(arrays):
  src = gd.get_source('grid25', 'test')
  assert len(src) == 10_000
  record = src[17]
  assert record['image'].shape == (2,) and record['image'].dtype == np.float32
  assert isinstance(record['label'], np.int64)
  np.testing.assert_array_equal(record['image'], arrays['grid25']['test'][0][17])
  assert record['label'] == arrays['grid25']['test'][1][17]
  assert pickle.loads(pickle.dumps(src))[17]['label'] == record['label']
  for name, k in (('ring8', 8), ('grid25', 25)):
    assert gd.dataset_info(name) == {
        'image_shape': (2,),
        'modality': 'points',
        'num_classes': k,
        'num_train': 100_000,
        'num_test': 10_000,
        'layout': 'labelled',
        'fields': {'image': {'dtype': 'float32', 'shape': (2,)},
                   'label': {'dtype': 'int64', 'shape': ()}},
    }
  assert gd.dataset_info('mnist5k')['modality'] == 'images'


def test_unknown_name_lists_toy_sets():
  with pytest.raises(gd.DataError) as e:
    gd.get_source('ring9', 'train')
  assert 'ring8' in str(e.value) and 'grid25' in str(e.value)


# ------------------------------------------------------------------ figure


def test_scatter_writes_png(tmp_path):
  points, _ = toy.sample('ring8', 500, seed=0)
  far = np.array([[10.0, 10.0]])
  path = scatter_over_modes(str(tmp_path / 'figs' / 'ring8.png'),
                            np.concatenate([points, far]),
                            toy.TOY_SETS['ring8'].centers, 0.01, title='ring8')
  with open(path, 'rb') as f:
    data = f.read()
  assert data.startswith(b'\x89PNG\r\n\x1a\n') and len(data) > 1000
