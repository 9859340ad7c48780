"""The two-domain digit sets: digits_pairs (paired) and digits_ab (unpaired)."""

import pickle

import numpy as np
import pytest

import genlab.data as gd
from genlab.data import two_domain


@pytest.fixture(scope='module')
def digits():
  """{split: {image bytes: label}} of the plain digits set."""
  out = {}
  for split in ('train', 'test'):
    images, labels = gd.load_arrays('digits', split)
    out[split] = {im.tobytes(): int(y) for im, y in zip(images, labels)}
  return out


def _keys(images):
  return [im.tobytes() for im in images]


def test_transform_is_an_exact_involution():
  x = np.arange(256, dtype=np.uint8).reshape(4, 8, 8, 1)
  y = two_domain.transform(x)
  assert y.dtype == np.uint8
  np.testing.assert_array_equal(y.astype(int), 255 - x.astype(int))
  np.testing.assert_array_equal(two_domain.transform(y), x)
  with pytest.raises(TypeError):
    two_domain.transform(x.astype(np.float32))


@pytest.mark.parametrize('split', ['train', 'test'])
def test_pairs_target_is_transform_of_source(digits, split):
  pairs = gd.load_split('digits_pairs', split)
  assert pairs['source'].shape == pairs['target'].shape
  assert pairs['source'].shape[1:] == (8, 8, 1)
  assert pairs['source'].dtype == pairs['target'].dtype == np.uint8
  np.testing.assert_array_equal(pairs['target'],
                                two_domain.transform(pairs['source']))
  # Sources are exactly the digits of the same split, with their labels.
  assert sorted(_keys(pairs['source'])) == sorted(digits[split])
  assert [digits[split][k] for k in _keys(pairs['source'])] == \
      pairs['label'].tolist()


@pytest.mark.parametrize('split', ['train', 'test'])
def test_ab_domains_are_digits_and_unpaired(digits, split):
  ab = gd.load_split('digits_ab', split)
  n = len(digits[split])
  for domain in ('a', 'b'):
    assert ab[domain].shape == (n, 8, 8, 1) and ab[domain].dtype == np.uint8
    assert ab[f'{domain}_label'].shape == (n,)
    assert ab[f'{domain}_label'].dtype == np.int64
  a_keys = _keys(ab['a'])
  b_digits = _keys(two_domain.transform(ab['b']))
  # Each domain holds every digit of the split exactly once, with its label;
  # b holds them transformed.
  for keys, labels in ((a_keys, ab['a_label']), (b_digits, ab['b_label'])):
    assert sorted(keys) == sorted(digits[split])
    assert [digits[split][k] for k in keys] == labels.tolist()
  # b[i] is never the transform of a[i] (a derangement of distinct digits),
  # and its class is unrelated to a[i]'s about as often as chance says.
  assert all(a != b for a, b in zip(a_keys, b_digits))
  same_class = np.mean(ab['a_label'] == ab['b_label'])
  assert same_class < 0.25
  # Domain b is told apart from a by brightness alone.
  assert ab['b'].mean() > 2 * ab['a'].mean()


def test_ab_is_fixed_across_preparations(tmp_path):
  first = gd.load_split('digits_ab', 'test')
  again = gd.load_split('digits_ab', 'test', data_dir=str(tmp_path))
  for field, column in first.items():
    np.testing.assert_array_equal(again[field], column)


def test_partners_is_a_fixed_derangement():
  for n in (2, 3, 359, 1438):
    p = two_domain.partners(n, seed=0)
    assert sorted(p.tolist()) == list(range(n))
    assert np.all(p != np.arange(n))
    np.testing.assert_array_equal(p, two_domain.partners(n, seed=0))
  assert not np.array_equal(two_domain.partners(359, 0),
                            two_domain.partners(359, 1))
  with pytest.raises(ValueError):
    two_domain.partners(1, seed=0)


def test_two_domain_info_and_sources():
  for name, layout in (('digits_pairs', 'paired'), ('digits_ab', 'unpaired')):
    info = gd.dataset_info(name)
    assert info['layout'] == layout
    assert info['image_shape'] == (8, 8, 1)
    assert info['modality'] == 'images' and info['num_classes'] == 10
    assert (info['num_train'], info['num_test']) == (1438, 359)
    src = gd.get_source(name, 'train')
    record = src[5]
    assert set(record) == set(gd.LAYOUTS[layout])
    # grain worker processes receive sources by pickling.
    again = pickle.loads(pickle.dumps(src))[5]
    for field, value in record.items():
      np.testing.assert_array_equal(again[field], value)
  assert isinstance(gd.get_source('digits_pairs', 'test')[0]['label'],
                    np.int64)


@pytest.mark.parametrize('name', ['digits_pairs', 'digits_ab'])
def test_load_arrays_points_to_load_split(name):
  with pytest.raises(gd.DataError, match='load_split') as e:
    gd.load_arrays(name, 'train')
  assert '\n' not in str(e.value)
