"""The image-to-image sets of genlab.data.digit_translation and experiments.show_data."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import genlab.data as gd
from genlab.data import digit_translation as dt
from genlab.data import embedded
from genlab.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPLITS = ('train', 'test')
IMAGE = {'dtype': 'uint8', 'shape': (28, 28, 1)}
LABEL = {'dtype': 'int64', 'shape': ()}
FIELDS = {
    'sketch2digit': ('paired', {'source': IMAGE, 'target': IMAGE,
                                'label': LABEL}),
    'lowres2digit': ('paired', {'source': IMAGE, 'target': IMAGE,
                                'label': LABEL}),
    'mnist2sklearn': ('unpaired', {'a': IMAGE, 'a_label': LABEL,
                                   'b': IMAGE, 'b_label': LABEL}),
}


@pytest.fixture(scope='module')
def mnist():
  """{split: (images, labels)} of mnist5k, in its record order."""
  return {split: gd.load_arrays('mnist5k', split) for split in SPLITS}


@pytest.fixture(scope='module')
def sets():
  """{name: {split: load_split arrays}}, each set prepared once."""
  return {name: {split: gd.load_split(name, split) for split in SPLITS}
          for name in FIELDS}


def _ink_box(image):
  rows = np.flatnonzero(image.any(axis=1))
  cols = np.flatnonzero(image.any(axis=0))
  return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize('name', sorted(FIELDS))
def test_fields_shapes_and_sizes(sets, name):
  layout, fields = FIELDS[name]
  info = gd.dataset_info(name)
  assert info['layout'] == layout and info['fields'] == fields
  assert (info['num_train'], info['num_test']) == (4000, 1000)
  assert info['image_shape'] == (28, 28, 1) and info['num_classes'] == 10
  for split, n in zip(SPLITS, (4000, 1000)):
    arrays = sets[name][split]
    assert list(arrays) == list(gd.LAYOUTS[layout])
    for field, spec in fields.items():
      assert arrays[field].dtype == spec['dtype']
      assert arrays[field].shape == (n,) + spec['shape']


def test_derivations_are_deterministic(sets, tmp_path):
  images, _ = embedded.load_mnist5k()
  digits, _ = embedded.load_digits()
  for derive, x in ((dt.skeleton, images), (dt.low_resolution, images),
                    (dt.mnist_frame, digits)):
    np.testing.assert_array_equal(derive(x), derive(x.copy()))
  np.testing.assert_array_equal(dt.b_order(359, 1), dt.b_order(359, 1))
  assert not np.array_equal(dt.b_order(359, 0), dt.b_order(359, 1))
  assert sorted(dt.b_order(359, 0).tolist()) == list(range(359))
  # A fresh preparation elsewhere gives the very same records in the same order.
  again = gd.load_split('mnist2sklearn', 'test', data_dir=str(tmp_path))
  for field, column in sets['mnist2sklearn']['test'].items():
    np.testing.assert_array_equal(again[field], column)


@pytest.mark.parametrize('split', SPLITS)
def test_sketch_is_the_skeleton_of_its_digit(sets, mnist, split):
  pairs = sets['sketch2digit'][split]
  images, labels = mnist[split]
  # Target is mnist5k's digit of the same record: same split, same order.
  np.testing.assert_array_equal(pairs['target'], images)
  np.testing.assert_array_equal(pairs['label'], labels)
  sketch = pairs['source'][..., 0] > 0
  ink = pairs['target'][..., 0] >= dt.INK_THRESHOLD
  assert set(np.unique(pairs['source'])) == {0, 255}
  assert not np.any(sketch & ~ink)  # A lies on B's binarized support
  assert sketch.any(axis=(1, 2)).all()  # every digit keeps a centre line
  # Thin: a third of the ink, and (nearly) no pixel with all four neighbours lit,
  # which MNIST's 2-3 px strokes have everywhere.
  assert sketch.sum() < 0.45 * ink.sum()
  cross = ndimage.generate_binary_structure(2, 1)[None]
  assert ndimage.binary_erosion(sketch, structure=cross).sum() < 1e-3 * sketch.sum()
  # The same strokes: thinning keeps each digit's 8-connected pieces.
  eight = np.ones((3, 3))
  pieces = [ndimage.label(a, eight)[1] == ndimage.label(b, eight)[1]
            for a, b in zip(sketch, ink)]
  assert np.mean(pieces) > 0.995


def test_skeleton_thins_a_bar_to_its_centre_line():
  bar = np.zeros((1, 12, 16, 1), np.uint8)
  bar[0, 4:7, 2:14] = 255  # 3 px thick, 12 long
  line = dt.skeleton(bar)[0, ..., 0] > 0
  rows, cols = np.nonzero(line)
  assert set(rows) == {5}  # the middle row...
  assert cols.min() <= 4 and cols.max() >= 11  # ...along nearly all of the bar
  np.testing.assert_array_equal(dt.skeleton(np.zeros_like(bar)), 0)


@pytest.mark.parametrize('split', SPLITS)
def test_lowres_is_the_block_mean(sets, mnist, split):
  pairs = sets['lowres2digit'][split]
  images, labels = mnist[split]
  np.testing.assert_array_equal(pairs['target'], images)
  np.testing.assert_array_equal(pairs['label'], labels)
  low = pairs['source'].astype(int).reshape(-1, 7, 4, 7, 4)
  # Constant on every 4x4 block...
  assert np.all(low == low[:, :, :1, :, :1])
  # ...where it is the block mean of the target, up to rounding.
  mean = pairs['target'].astype(float).reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4))
  assert np.abs(low[:, :, 0, :, 0] - mean).max() <= 1


def test_mnist2sklearn_domains(sets, mnist):
  digits, digit_labels = embedded.load_digits()
  made_from = {im.tobytes(): row for row, im in enumerate(dt.mnist_frame(digits))}
  assert len(made_from) == len(digits)  # every framed digit traceable to one row
  expected_rows = embedded.stratified_split(
      digit_labels, test_fraction=embedded.DIGITS_TEST_FRACTION)
  used = {}
  for split, b_rows in zip(SPLITS, expected_rows):
    ab = sets['mnist2sklearn'][split]
    images, labels = mnist[split]
    np.testing.assert_array_equal(ab['a'], images)
    np.testing.assert_array_equal(ab['a_label'], labels)
    rows = np.array([made_from[im.tobytes()] for im in ab['b']])
    np.testing.assert_array_equal(ab['b_label'], digit_labels[rows])
    # b cycles through every digit of the 8x8 set's own split, evenly.
    counts = np.bincount(rows, minlength=len(digits))[b_rows]
    assert set(np.unique(rows)) == set(b_rows.tolist())
    assert counts.max() - counts.min() <= 1
    used[split] = set(rows.tolist())
    # The pairing is arbitrary: rows agree in class about as often as chance.
    assert np.mean(ab['a_label'] == ab['b_label']) < 0.25
    for image in ab['b'][:, :, :, 0]:
      assert np.all(np.array(_ink_box(image)) <= dt.BOX)
      centre = ndimage.center_of_mass(image.astype(float))
      assert np.all(np.abs(np.array(centre) - dt.CENTRE) <= 1)
  assert not used['train'] & used['test']
  # The frame centre is where MNIST itself puts its digits' centre of mass.
  mnist_centre = np.mean([ndimage.center_of_mass(im[..., 0].astype(float))
                          for im in mnist['test'][0]], axis=0)
  assert np.all(np.abs(mnist_centre - dt.CENTRE) < 0.1)


@pytest.fixture(scope='module')
def sklearn28():
  """{split: (images, labels)} of sklearn28, in its record order."""
  return {split: gd.load_arrays('sklearn28', split) for split in SPLITS}


def test_sklearn28_shapes_and_dtypes(sklearn28):
  info = gd.dataset_info('sklearn28')
  digits = {split: gd.load_arrays('digits', split) for split in SPLITS}
  assert info == {
      'image_shape': (28, 28, 1),
      'modality': 'images',
      'num_classes': 10,
      'num_train': len(digits['train'][0]),
      'num_test': len(digits['test'][0]),
      'layout': 'labelled',
      'fields': {'image': IMAGE, 'label': LABEL},
  }
  assert (info['num_train'], info['num_test']) == (1438, 359)
  for split in SPLITS:
    images, labels = sklearn28[split]
    n = len(digits[split][0])
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(10))
    assert images.min() == 0 and images.max() == 255


@pytest.mark.parametrize('split', SPLITS)
def test_sklearn28_is_digits_framed(sklearn28, split):
  digit_images, digit_labels = gd.load_arrays('digits', split)
  images, labels = sklearn28[split]
  # The same rows in the same order as digits, each framed by mnist_frame.
  np.testing.assert_array_equal(images, dt.mnist_frame(digit_images))
  np.testing.assert_array_equal(labels, digit_labels)


def test_mnist2sklearn_b_is_sklearn28_of_its_split(sets, sklearn28):
  keys = {split: {im.tobytes(): label
                  for im, label in zip(*sklearn28[split])} for split in SPLITS}
  # Distinct images, so each is one digit, and no digit is in both splits.
  for split in SPLITS:
    assert len(keys[split]) == len(sklearn28[split][0])
  assert not set(keys['train']) & set(keys['test'])
  for split in SPLITS:
    ab = sets['mnist2sklearn'][split]
    for image, label in zip(ab['b'], ab['b_label']):
      assert keys[split].get(image.tobytes()) == label
    # ...and b uses every one of them.
    assert {im.tobytes() for im in ab['b']} == set(keys[split])


def test_show_data_writes_a_png(tmp_path):
  from experiments import show_data  # pylint: disable=import-outside-toplevel
  out = show_data.show('mnist2sklearn', str(tmp_path / 'ab.png'), num=3)
  with Image.open(out) as png:
    assert png.format == 'PNG' and png.width > png.height > 50
  with pytest.raises(UserError, match='.png'):
    show_data.show('mnist2sklearn', str(tmp_path / 'ab.jpg'))


def test_show_data_refuses_an_unknown_dataset(tmp_path):
  out = tmp_path / 'x.png'
  proc = subprocess.run(
      [sys.executable, '-m', 'experiments.show_data', '--name=no_such_set',
       f'--out={out}'], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: unknown dataset 'no_such_set'")
  assert not out.exists()
