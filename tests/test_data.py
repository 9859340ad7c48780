"""Behaviour of genlab.data: embedded sets, registry errors, tfds catalogue."""

import logging
import pickle
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

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


def test_mnist5k_shapes_dtypes_range(cache_dir):
  for split, n in (('train', 4000), ('test', 1000)):
    images, labels = gd.load_arrays('mnist5k', split)
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 255
    assert set(np.unique(labels)) == set(range(10))
  assert (tmp := gd.default_data_dir()) == cache_dir
  assert builders.GenlabMnist5k(data_dir=tmp).is_prepared()


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
