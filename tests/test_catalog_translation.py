"""tfds catalogue image-to-image sets (genlab.data.catalog_translation), offline.

`tfds.testing.mock_data` serves the records. Its own random records give every
image a random size (5..49 px a side; the declared shape is (None, None, 3))
and the same records to every split, so most tests serve small records of
their own through its `as_data_source_fn`: 16x16 images whose pixels say which
split and record they are, and domains of different sizes. One test reads a
tiny cycle_gan/horse2zebra that it prepares itself (local PNGs, no download,
no TensorFlow) through tfds's real array_record reader.
"""

import io
import time

import jax
import numpy as np
import PIL.Image
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import cycle_gan

import genlab.data as gd
from conftest import load_config
from genlab import experiment
from genlab.data import catalog_translation

NAME = 'tfds:cycle_gan/horse2zebra'
SIZE = 16
# tfds split: (records, pixel value of record 0, label).
SPLITS = {'trainA': (7, 0, 0), 'trainB': (3, 100, 1),
          'testA': (4, 50, 0), 'testB': (5, 150, 1)}


class _Split(list):
  """One split's records; remembers which keys were read."""

  def __init__(self, records, reads):
    super().__init__(records)
    self.reads = reads

  def __getitem__(self, key):
    self.reads.append(int(key))
    return super().__getitem__(key)


def _served(reads=None):
  """mock_data serving SPLITS: record i of a split is filled with its value + i."""
  reads = {} if reads is None else reads

  def as_data_source(self, split, decoders=None, deserialize_method=None, **kwargs):
    del decoders, deserialize_method, kwargs
    assert self.name == 'cycle_gan', self.name
    n, value, label = SPLITS[split]
    records = [{'image': np.full((SIZE, SIZE, 3), value + i, np.uint8), 'label': label}
               for i in range(n)]
    return _Split(records, reads.setdefault(split, []))

  return tfds.testing.mock_data(as_data_source_fn=as_data_source)


def _values(images):
  """The fill value of each image (each is constant)."""
  assert (images == images[:, :1, :1, :1]).all()
  return images[:, 0, 0, 0].astype(int).tolist()


def test_info_has_the_unpaired_layout(tmp_path):
  with _served():
    info = gd.dataset_info(NAME, data_dir=str(tmp_path))
  image = {'dtype': 'uint8', 'shape': (SIZE, SIZE, 3)}
  label = {'dtype': 'int64', 'shape': ()}
  assert info == {
      'image_shape': (SIZE, SIZE, 3),
      'modality': 'images',
      'num_classes': 0,  # the labels name the domain
      'num_train': 7,  # rows = records of domain a
      'num_test': 4,
      'layout': 'unpaired',
      'fields': {'a': image, 'a_label': label, 'b': image, 'b_label': label},
  }


def test_rows_pair_a_with_b_modulo_its_size(tmp_path):
  with _served():
    train = gd.load_split(NAME, 'train', data_dir=str(tmp_path))
    test = gd.load_split(NAME, 'test', data_dir=str(tmp_path))
    source = gd.get_source(NAME, 'train', data_dir=str(tmp_path))
    assert len(source) == 7
    row = source[5]
    assert row['a'].shape == (SIZE, SIZE, 3) and row['a'].dtype == np.uint8
    assert int(row['a'][0, 0, 0]) == 5 and int(row['b'][0, 0, 0]) == 100 + 5 % 3
    assert isinstance(row['b_label'], np.int64) and row['b_label'] == 1
  assert set(train) == set(gd.LAYOUTS['unpaired'])
  assert _values(train['a']) == list(range(7))
  assert _values(train['b']) == [100 + i % 3 for i in range(7)]
  assert _values(test['a']) == [50 + i for i in range(4)]
  assert _values(test['b']) == [150 + i for i in range(4)]  # n_b > n_a: 150+4 unused
  assert train['a_label'].tolist() == [0] * 7 and train['b_label'].tolist() == [1] * 7
  assert train['a_label'].dtype == train['b_label'].dtype == np.int64


def test_shards_read_disjoint_a_rows(tmp_path):
  reads = {}
  with _served(reads):
    whole = gd.load_split(NAME, 'train', data_dir=str(tmp_path))
    shards, read_a, read_b = [], [], []
    for index in range(3):
      reads.clear()
      shards.append(gd.load_split(NAME, 'train', data_dir=str(tmp_path),
                                  shard=(index, 3)))
      read_a.append(set(reads['trainA']) - {0})  # record 0 also gives the image size
      read_b.append(set(reads['trainB']))
  for index, shard in enumerate(shards):
    start, stop = gd.shard_bounds(7, index, 3)
    for field, column in whole.items():
      np.testing.assert_array_equal(shard[field], column[start:stop])
    assert read_a[index] == set(range(start, stop)) - {0}
    assert read_b[index] == {i % 3 for i in range(start, stop)}
  assert [len(s['a']) for s in shards] == [3, 2, 2]


def test_split_specs(tmp_path):
  builder = tfds.builder('cycle_gan/horse2zebra', data_dir=str(tmp_path))
  translation = catalog_translation.lookup(builder)
  assert translation.layout == 'unpaired'
  assert catalog_translation.domain_splits(translation, builder, 'train[:10%]') == (
      'trainA[:10%]', 'trainB[:10%]')
  with pytest.raises(gd.DataError, match="no split 'trainA'.*train") as e:
    catalog_translation.domain_splits(translation, builder, 'trainA')
  assert '\n' not in str(e.value)
  assert catalog_translation.lookup(tfds.builder('mnist', data_dir=str(tmp_path))) is None


def test_plain_mock_data_images_of_varying_size_fail_clearly(tmp_path):
  # mock_data's own records: the set takes record 0's size; record 1 differs.
  with tfds.testing.mock_data(num_examples=3):
    info = gd.dataset_info(NAME, data_dir=str(tmp_path))
    assert info['layout'] == 'unpaired' and info['num_train'] == 3
    height, width, channels = info['image_shape']
    assert channels == 3 and 5 <= min(height, width)
    with pytest.raises(gd.DataError, match="record 1 of split 'trainA'") as e:
      gd.load_split(NAME, 'train', data_dir=str(tmp_path))
  assert '\n' not in str(e.value)
  assert f"not the set's {height}x{width}x3" in str(e.value)


def test_not_prepared_fails_fast(tmp_path):
  start = time.monotonic()
  for read in (lambda: gd.dataset_info(NAME, data_dir=str(tmp_path)),
               lambda: gd.load_split(NAME, 'train', data_dir=str(tmp_path))):
    with pytest.raises(gd.DataError) as e:
      read()
    message = str(e.value)
    assert '\n' not in message
    assert f"dataset 'cycle_gan/horse2zebra' is not prepared in {tmp_path}" in message
    assert (f"tfds.builder('cycle_gan/horse2zebra', data_dir='{tmp_path}')"
            ".download_and_prepare(file_format='array_record')") in message
  assert time.monotonic() - start < 5
  assert not any(tmp_path.iterdir())


def _prepare_local_horse2zebra(data_dir):
  """A real prepared cycle_gan/horse2zebra of tiny PNGs (red = value), one grey."""
  sizes = {'trainA': 5, 'trainB': 3, 'testA': 2, 'testB': 4}

  with tfds.core.registered.skip_registration():

    class LocalCycleGAN(cycle_gan.CycleGAN):
      name = 'cycle_gan'

      def _split_generators(self, dl_manager):
        del dl_manager
        return {split: self._generate_examples(split) for split in sizes}

      def _generate_examples(self, split):  # pylint: disable=arguments-differ
        base = SPLITS[split][1]
        for i in range(sizes[split]):
          grey = i == 1
          image = PIL.Image.new('L' if grey else 'RGB', (8, 8),
                                base + i if grey else (base + i, 0, 0))
          png = io.BytesIO()
          image.save(png, format='PNG')
          yield f'{split}_{i}', {'image': png.getvalue(), 'label': split[-1]}

  config = tfds.download.DownloadConfig(
      try_download_gcs=False, compute_stats=tfds.download.ComputeStatsMode.SKIP)
  LocalCycleGAN(config='horse2zebra', data_dir=data_dir).download_and_prepare(
      file_format='array_record', download_config=config)


def test_prepared_set_reads_through_tfds_without_mocks(tmp_path):
  data_dir = str(tmp_path)
  _prepare_local_horse2zebra(data_dir)
  info = gd.dataset_info(NAME, data_dir=data_dir)
  assert (info['layout'], info['image_shape']) == ('unpaired', (8, 8, 3))
  assert (info['num_train'], info['num_test']) == (5, 2)  # from the split metadata
  train = gd.load_split(NAME, 'train', data_dir=data_dir)
  red = lambda images: images[:, 0, 0, 0].astype(int).tolist()
  # tfds stores records in its own order: check the rule, not positions.
  assert sorted(red(train['a'])) == [0, 1, 2, 3, 4]
  assert sorted(red(train['b'][:3])) == [100, 101, 102]
  assert red(train['b'][3:]) == red(train['b'][:2])  # row i holds b[i mod 3]
  grey = train['a'][red(train['a']).index(1)]
  assert (grey == 1).all()  # a grey PNG is decoded to 3 equal channels
  assert train['a_label'].tolist() == [0] * 5 and train['b_label'].tolist() == [1] * 5
  shard = gd.load_split(NAME, 'train', data_dir=data_dir, shard=(1, 2))
  for field, column in train.items():
    np.testing.assert_array_equal(shard[field], column[3:])
  # A slice cuts each domain: 40% of 5 a records and of 3 b records.
  sliced = gd.load_split(NAME, 'train[:40%]', data_dir=data_dir)
  np.testing.assert_array_equal(sliced['a'], train['a'][:2])
  np.testing.assert_array_equal(sliced['b'], train['b'][[0, 0]])


def test_horse2zebra_config():
  config = load_config('cyclegan', 'horse2zebra')
  assert config.data.name == NAME and config.model.name == 'cycle_conv'
  assert config.data.batch_size in (1, 4)
  assert 256 % 2 ** len(config.model.g_channels) == 0
  assert config.cycle.pool_size == 50
  assert config.cycle.identity_weight == 0.5 * config.cycle.cycle_weight
  assert config.eval.num_samples == 0 and 'feature_net_data' not in config.eval
  with pytest.raises(ValueError, match='exclude'):
    load_config('cyclegan', 'toy,horse2zebra')


@pytest.mark.slow  # builds and steps the full CycleGAN: make test, not test-fast
def test_horse2zebra_smoke_builds_and_steps(tmp_path):
  config = load_config('cyclegan', 'horse2zebra,smoke')
  with config.unlocked():  # 16x16 served images: a small model and batch
    config.data.data_dir = str(tmp_path)
    config.data.batch_size = config.data.eval_batch_size = 2
    config.model.g_channels, config.model.d_features, config.model.d_layers = (8, 16), 8, 1
  with _served():
    exp = experiment.build(config)
  assert exp.info['layout'] == 'unpaired' and exp.info['image_shape'] == (SIZE, SIZE, 3)
  assert len(exp.train['a']) == 7 and len(exp.test['a']) == 4
  state = exp.init_state()
  new_state, metrics = jax.jit(exp.fns.train_step)(state, exp.example_batch(),
                                                   exp.rngs()['train'])
  assert int(new_state.step) == 1
  for player in ('g_ab', 'g_ba', 'd_a', 'd_b'):
    assert np.isfinite(metrics[f'{player}_loss']), player
  assert new_state.model_state['d_a']['pool']['images'].shape == (50, SIZE, SIZE, 3)
