"""Behaviour of genlab.data: embedded sets, registry errors, tfds catalogue."""

import concurrent.futures
import contextlib
import logging
import os
import pickle
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core.data_sources import base as tfds_sources

import genlab.data as gd
from genlab.data import builders
from genlab.data import embedded


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
  # Shared by the module so each embedded set is prepared once (~0.5 s).
  return str(tmp_path_factory.mktemp('genlab_cache'))


@pytest.fixture(autouse=True)
def _isolated_cache(cache_dir, monkeypatch):
  # Never read or write the user's real cache or tfds dirs.
  monkeypatch.setenv('GENLAB_DATA_DIR', cache_dir)
  monkeypatch.delenv('TFDS_DATA_DIR', raising=False)


def _image_keys(images):
  return sorted(im.tobytes() for im in images)


def _labelled_fields(shape, dtype='uint8'):
  return {'image': {'dtype': dtype, 'shape': shape},
          'label': {'dtype': 'int64', 'shape': ()}}


def test_mnist5k_shapes_dtypes_range(cache_dir):
  for split, n in (('train', 4000), ('test', 1000)):
    images, labels = gd.load_arrays('mnist5k', split)
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 255
    assert set(np.unique(labels)) == set(range(10))
  assert (tmp := gd.default_data_dir()) == cache_dir
  assert builders.GenlabMnist5k(data_dir=tmp).is_prepared()


def test_mnist5k32_is_mnist5k_in_a_black_border():
  for split in ('train', 'test'):
    small, labels = gd.load_arrays('mnist5k', split)
    big, big_labels = gd.load_arrays('mnist5k32', split)
    assert big.shape == (len(small), 32, 32, 1) and big.dtype == np.uint8
    np.testing.assert_array_equal(big[:, 2:30, 2:30], small)  # same digits, same order
    np.testing.assert_array_equal(big_labels, labels)
    big[:, 2:30, 2:30] = 0
    assert not big.any()  # the border is black


def test_mnist5k_split_per_class_and_disjoint():
  _, train_labels = gd.load_arrays('mnist5k', 'train')
  test_images, test_labels = gd.load_arrays('mnist5k', 'test')
  train_images, _ = gd.load_arrays('mnist5k', 'train')
  assert np.bincount(train_labels).tolist() == [400] * 10
  assert np.bincount(test_labels).tolist() == [100] * 10
  # Content-level: the 5,000 raw images are all distinct, so any shared
  # image would mean an example leaked from one split into the other.
  assert not set(_image_keys(train_images)) & set(_image_keys(test_images))
  raw_images, raw_labels = embedded.load_mnist5k()
  train_idx, test_idx = embedded.stratified_split(
      raw_labels, n_test_per_class=100
  )
  assert np.intersect1d(train_idx, test_idx).size == 0
  assert np.union1d(train_idx, test_idx).tolist() == list(range(5000))
  # Pixels survive the round trip through tfds/array_record unchanged.
  assert _image_keys(test_images) == _image_keys(raw_images[test_idx])


def test_mnist5k_deterministic(tmp_path):
  a = gd.load_arrays('mnist5k', 'test')
  b = gd.load_arrays('mnist5k', 'test')
  # A fresh preparation elsewhere must give the very same split and order.
  c = gd.load_arrays('mnist5k', 'test', data_dir=str(tmp_path))
  for other in (b, c):
    np.testing.assert_array_equal(a[0], other[0])
    np.testing.assert_array_equal(a[1], other[1])
  labels = embedded.load_mnist5k()[1]
  s1 = embedded.stratified_split(labels, n_test_per_class=100)
  s2 = embedded.stratified_split(labels, n_test_per_class=100)
  s3 = embedded.stratified_split(labels, n_test_per_class=100, seed=1)
  np.testing.assert_array_equal(s1[1], s2[1])
  assert not np.array_equal(s1[1], s3[1])


def test_digits_shapes_and_range():
  train_images, train_labels = gd.load_arrays('digits', 'train')
  test_images, test_labels = gd.load_arrays('digits', 'test')
  assert train_images.shape[1:] == test_images.shape[1:] == (8, 8, 1)
  assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
  assert len(train_images) + len(test_images) == 1797
  assert train_images.min() == 0 and train_images.max() == 255
  per_class = np.bincount(np.concatenate([train_labels, test_labels]))
  expected = np.round(0.2 * per_class).astype(int)
  np.testing.assert_array_equal(np.bincount(test_labels), expected)
  info = gd.dataset_info('digits')
  assert info == {
      'image_shape': (8, 8, 1),
      'modality': 'images',
      'num_classes': 10,
      'num_train': len(train_images),
      'num_test': len(test_images),
      'layout': 'labelled',
      'fields': _labelled_fields((8, 8, 1)),
  }


def test_get_source_records_and_info():
  src = gd.get_source('mnist5k', 'train')
  assert len(src) == 4000
  record = src[7]
  assert record['image'].shape == (28, 28, 1)
  assert record['image'].dtype == np.uint8
  assert isinstance(record['label'], np.int64)
  # grain worker processes receive sources by pickling.
  assert pickle.loads(pickle.dumps(src))[7]['label'] == record['label']
  assert gd.dataset_info('mnist5k') == {
      'image_shape': (28, 28, 1),
      'modality': 'images',
      'num_classes': 10,
      'num_train': 4000,
      'num_test': 1000,
      'layout': 'labelled',
      'fields': _labelled_fields((28, 28, 1)),
  }


@pytest.mark.parametrize('name', ['mnist', 'MNIST5K', '', 'tfds:', 42])
def test_unknown_name_raises(name):
  with pytest.raises(gd.DataError) as e:
    gd.get_source(name, 'train')
  message = str(e.value)
  assert isinstance(e.value, ValueError)
  assert '\n' not in message
  assert 'mnist5k' in message and 'digits' in message and 'tfds:NAME' in message


def test_unknown_tfds_name_raises(tmp_path):
  with pytest.raises(gd.DataError, match='no_such_dataset_xyz') as e:
    gd.get_source('tfds:no_such_dataset_xyz', 'train', data_dir=str(tmp_path))
  assert '\n' not in str(e.value)


def test_tfds_not_prepared_fails_fast_with_recipe(tmp_path):
  start = time.monotonic()
  with pytest.raises(gd.DataError) as e:
    gd.get_source('tfds:mnist', 'train', data_dir=str(tmp_path))
  assert time.monotonic() - start < 5
  message = str(e.value)
  assert '\n' not in message
  assert f"dataset 'mnist' is not prepared in {tmp_path}" in message
  assert (
      f"tfds.builder('mnist', data_dir='{tmp_path}')"
      ".download_and_prepare(file_format='array_record')"
  ) in message
  assert "pip install 'genlab[tf]'" in message
  # Nothing was downloaded or generated.
  assert not any(tmp_path.iterdir())
  with pytest.raises(gd.DataError, match='not prepared'):
    gd.dataset_info('tfds:mnist', data_dir=str(tmp_path))


def test_tfds_mock_data_path(tmp_path):
  with tfds.testing.mock_data(num_examples=6):
    src = gd.get_source('tfds:mnist', 'train', data_dir=str(tmp_path))
    assert len(src) == 6
    record = src[3]
    assert record['image'].shape == (28, 28, 1)
    assert record['image'].dtype == np.uint8
    assert record['label'].dtype == np.int64
    images, labels = gd.load_arrays('tfds:mnist', 'test', data_dir=str(tmp_path))
    assert images.shape == (6, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (6,) and labels.dtype == np.int64
    info = gd.dataset_info('tfds:mnist', data_dir=str(tmp_path))
    assert info['image_shape'] == (28, 28, 1) and info['num_classes'] == 10
  # Leaving the mock restores the real check.
  with pytest.raises(gd.DataError, match='not prepared'):
    gd.get_source('tfds:mnist', 'train', data_dir=str(tmp_path))


def test_prepare_survives_losing_a_race(tmp_path, monkeypatch, caplog):
  data_dir = str(tmp_path)
  original = builders.GenlabDigits._download_and_prepare
  config = tfds.download.DownloadConfig(try_download_gcs=False)

  def other_process_finishes_first(self, *args, **kwargs):
    # Restore first so the "other process" generates normally.
    monkeypatch.setattr(
        builders.GenlabDigits, '_download_and_prepare', original
    )
    builders.GenlabDigits(data_dir=data_dir).download_and_prepare(
        file_format='array_record', download_config=config
    )
    return original(self, *args, **kwargs)

  monkeypatch.setattr(
      builders.GenlabDigits,
      '_download_and_prepare',
      other_process_finishes_first,
  )
  with caplog.at_level(logging.INFO):
    builder = builders.prepare(builders.GenlabDigits, data_dir)
  assert builder.is_prepared()
  assert 'prepared genlab_digits in' in caplog.text  # The rename did fail.
  # The loser's temporary directory is cleaned up; only the winner's remains.
  assert [p.name for p in (tmp_path / 'genlab_digits').iterdir()] == ['1.0.0']
  images, _ = gd.load_arrays('digits', 'test', data_dir=data_dir)
  assert images.shape[1:] == (8, 8, 1)


def test_concurrent_prepares_generate_once(tmp_path, monkeypatch):
  # The preparation lock: a second caller waits for the first and finds its files.
  data_dir, original, generations = str(tmp_path), builders.GenlabDigits._download_and_prepare, []

  def counted(self, *args, **kwargs):
    generations.append(1)
    time.sleep(0.5)  # keep the first generation running while the second caller arrives
    return original(self, *args, **kwargs)

  monkeypatch.setattr(builders.GenlabDigits, '_download_and_prepare', counted)
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    results = list(pool.map(lambda _: builders.prepare(builders.GenlabDigits, data_dir),
                            range(2)))
  assert all(b.is_prepared() for b in results)
  assert len(generations) == 1
  assert os.path.exists(os.path.join(data_dir, 'genlab_digits.lock'))


# ------------------------------------------------- field specs and load_split

_FIELDS = {
    'mnist5k': ('labelled', _labelled_fields((28, 28, 1))),
    'digits': ('labelled', _labelled_fields((8, 8, 1))),
    'ring8': ('labelled', _labelled_fields((2,), 'float32')),
    'grid25': ('labelled', _labelled_fields((2,), 'float32')),
    'digits_pairs': ('paired', {
        'source': {'dtype': 'uint8', 'shape': (8, 8, 1)},
        'target': {'dtype': 'uint8', 'shape': (8, 8, 1)},
        'label': {'dtype': 'int64', 'shape': ()},
    }),
    'digits_ab': ('unpaired', {
        'a': {'dtype': 'uint8', 'shape': (8, 8, 1)},
        'a_label': {'dtype': 'int64', 'shape': ()},
        'b': {'dtype': 'uint8', 'shape': (8, 8, 1)},
        'b_label': {'dtype': 'int64', 'shape': ()},
    }),
    'sketch2digit': ('paired', {
        'source': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'target': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'label': {'dtype': 'int64', 'shape': ()},
    }),
    'lowres2digit': ('paired', {
        'source': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'target': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'label': {'dtype': 'int64', 'shape': ()},
    }),
    'mnist2sklearn': ('unpaired', {
        'a': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'a_label': {'dtype': 'int64', 'shape': ()},
        'b': {'dtype': 'uint8', 'shape': (28, 28, 1)},
        'b_label': {'dtype': 'int64', 'shape': ()},
    }),
    'sklearn28': ('labelled', _labelled_fields((28, 28, 1))),
    'mnist5k32': ('labelled', _labelled_fields((32, 32, 1))),
}


def test_every_registered_dataset_has_a_field_spec():
  assert set(_FIELDS) == set(gd.DATASETS)


@pytest.mark.parametrize('name', sorted(_FIELDS))
def test_fields_declared_and_served(name):
  layout, fields = _FIELDS[name]
  # Preparing a toy set draws 110,000 points (~15 s here; tests/test_toy.py
  # pays it once per session): serve their declared spec with mock records.
  mock = name in ('ring8', 'grid25')
  served = (tfds.testing.mock_data(num_examples=5) if mock
            else contextlib.nullcontext())
  with served:
    info = gd.dataset_info(name)
    # What load_split and get_source hand out matches the declaration.
    arrays = gd.load_split(name, 'test')
    record = gd.get_source(name, 'test')[0]
  assert info['layout'] == layout
  assert info['fields'] == fields
  assert tuple(fields) == gd.LAYOUTS[layout]
  assert set(arrays) == set(record) == set(fields)
  for field, spec in fields.items():
    assert arrays[field].dtype == spec['dtype']
    assert arrays[field].shape == (info['num_test'],) + spec['shape']
    assert np.asarray(record[field]).dtype == spec['dtype']
    assert np.shape(record[field]) == spec['shape']


def test_tfds_catalogue_fields_under_mock(tmp_path):
  with tfds.testing.mock_data(num_examples=7):
    info = gd.dataset_info('tfds:mnist', data_dir=str(tmp_path))
    assert info['layout'] == 'labelled'
    assert info['fields'] == _labelled_fields((28, 28, 1))
    whole = gd.load_split('tfds:mnist', 'train', data_dir=str(tmp_path))
    half = gd.load_split('tfds:mnist', 'train', data_dir=str(tmp_path),
                         shard=(1, 2))
  assert whole['image'].shape == (7, 28, 28, 1)
  np.testing.assert_array_equal(half['image'], whole['image'][4:])
  np.testing.assert_array_equal(half['label'], whole['label'][4:])


@pytest.mark.parametrize('name', ['mnist5k', 'digits'])
def test_load_split_equals_load_arrays(name):
  images, labels = gd.load_arrays(name, 'test')
  arrays = gd.load_split(name, 'test')
  assert set(arrays) == {'image', 'label'}
  np.testing.assert_array_equal(arrays['image'], images)
  np.testing.assert_array_equal(arrays['label'], labels)
  assert arrays['image'].dtype == images.dtype
  assert arrays['label'].dtype == labels.dtype


def test_shard_bounds_match_array_split():
  for n in (0, 1, 5, 359, 360):
    for count in (1, 2, 3, 7, 400):
      expected = np.array_split(np.arange(n), count)
      for index in range(count):
        start, stop = gd.shard_bounds(n, index, count)
        assert list(range(start, stop)) == expected[index].tolist()


@pytest.mark.parametrize('name, count', [('digits', 2), ('digits', 7),
                                         ('digits_ab', 3)])
def test_shards_partition_the_split(name, count):
  whole = gd.load_split(name, 'test')
  shards = [gd.load_split(name, 'test', shard=(i, count)) for i in range(count)]
  sizes = [len(next(iter(s.values()))) for s in shards]
  assert max(sizes) - min(sizes) <= 1 and sum(sizes) == 359
  assert sizes == sorted(sizes, reverse=True)  # the larger shards come first
  for field, column in whole.items():
    np.testing.assert_array_equal(
        np.concatenate([s[field] for s in shards]), column)


@pytest.fixture
def requested_keys(monkeypatch):
  """Every record key that tfds data sources are asked for."""
  keys = []
  base = tfds_sources.BaseDataSource
  getitem, getitems = base.__getitem__, base.__getitems__

  def one(self, key):
    keys.append(int(key))
    return getitem(self, key)

  def many(self, batch):
    keys.extend(int(k) for k in batch)
    return getitems(self, batch)

  monkeypatch.setattr(base, '__getitem__', one)
  monkeypatch.setattr(base, '__getitems__', many)
  return keys


def test_a_shard_reads_only_its_records(requested_keys):
  whole = gd.load_split('mnist5k', 'test')
  assert sorted(requested_keys) == list(range(1000))  # the spy sees reads
  requested_keys.clear()
  shard = gd.load_split('mnist5k', 'test', shard=(2, 3))
  start, stop = gd.shard_bounds(1000, 2, 3)
  assert (start, stop) == (667, 1000)
  assert sorted(requested_keys) == list(range(start, stop))
  np.testing.assert_array_equal(shard['image'], whole['image'][start:stop])


def test_more_shards_than_records_leaves_empty_shards():
  arrays = gd.load_split('digits_pairs', 'test', shard=(399, 400))
  assert arrays['source'].shape == (0, 8, 8, 1)
  assert arrays['source'].dtype == np.uint8
  assert arrays['label'].shape == (0,) and arrays['label'].dtype == np.int64


@pytest.mark.parametrize('shard', [(3, 3), (-1, 2), (0, 0), (0,), 'x',
                                   (0.5, 2), (True, 2)])
def test_bad_shard_raises(shard):
  with pytest.raises(gd.DataError) as e:
    gd.load_split('digits', 'test', shard=shard)
  assert '\n' not in str(e.value) and 'shard' in str(e.value)
