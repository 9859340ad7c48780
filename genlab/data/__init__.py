"""Datasets for genlab: a small explicit registry plus the tfds catalogue.

Names:
  'mnist5k', 'digits'  embedded image sets, prepared on first use into
                       $GENLAB_DATA_DIR (default ~/.cache/genlab/tensorflow_datasets)
  'mnist5k32'          mnist5k with a 2-pixel black border: 32x32 (same split)
  'ring8', 'grid25'    toy 2-D Gaussian mixtures of the PacGAN protocol
                       (genlab.data.toy), generated there on first use;
                       100,000 train and 10,000 test points, label = mode
  'digits_pairs'       the 8x8 digits as aligned (source, target) pairs,
                       target = 255 - source (genlab.data.two_domain)
  'digits_ab'          the 8x8 digits as two unpaired domains a and b
  'sketch2digit'       mnist5k as aligned (source, target) pairs: source is
                       the digit's one-pixel skeleton, target the digit
  'lowres2digit'       the same with source = the digit averaged over 4x4
                       blocks, shown at 28x28 (4x super-resolution)
  'mnist2sklearn'      two unpaired 28x28 domains: a = mnist5k, b = the 8x8
                       digits framed like MNIST (genlab.data.digit_translation;
                       the three follow mnist5k's split and order)
  'sklearn28'          labelled: mnist2sklearn's domain b alone, the 8x8
                       digits framed like MNIST at 28x28 (digits' split and
                       order), to train a classifier of that domain
  'tfds:NAME'          a tfds catalogue dataset that is already prepared as
                       array_record (default data dir ~/tensorflow_datasets);
                       labelled, except the image-to-image families of
                       genlab.data.catalog_translation, e.g.
                       'tfds:cycle_gan/horse2zebra' (unpaired: trainA/trainB
                       as a/b of 'train', testA/testB of 'test')

Every dataset has a layout that names its fields (genlab.data.fields):
'labelled' sets yield {'image': x, 'label': int64}, where x is a uint8 HxWxC
image in 0..255, or for point sets ('modality': 'points' in `dataset_info`)
a float32 [2] point: 'image' names the model input whatever its modality.
'paired' sets yield source, target and label; 'unpaired' sets a, a_label,
b and b_label. `load_split` reads any layout; `load_arrays` only 'labelled'.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from genlab.data import builders
from genlab.data import catalog
from genlab.data import translation_builders
from genlab.data.errors import DataError
from genlab.data.fields import LAYOUTS
from genlab.data.fields import shard_bounds

__all__ = [
    'DATASETS',
    'DataError',
    'LAYOUTS',
    'dataset_info',
    'default_data_dir',
    'get_source',
    'load_arrays',
    'load_split',
    'shard_bounds',
]


@dataclasses.dataclass(frozen=True)
class EmbeddedDataset:
  """A dataset generated locally (from package files, or sampled)."""

  builder_cls: type[tfds.core.GeneratorBasedBuilder]
  num_classes: int  # For the toy sets: the number of mixture modes.


DATASETS: dict[str, EmbeddedDataset] = {
    'mnist5k': EmbeddedDataset(builders.GenlabMnist5k, num_classes=10),
    'mnist5k32': EmbeddedDataset(builders.GenlabMnist5k32, num_classes=10),
    'digits': EmbeddedDataset(builders.GenlabDigits, num_classes=10),
    'ring8': EmbeddedDataset(builders.GenlabRing8, num_classes=8),
    'grid25': EmbeddedDataset(builders.GenlabGrid25, num_classes=25),
    'digits_pairs': EmbeddedDataset(builders.GenlabDigitsPairs, num_classes=10),
    'digits_ab': EmbeddedDataset(builders.GenlabDigitsAB, num_classes=10),
    'sketch2digit': EmbeddedDataset(translation_builders.GenlabSketch2Digit,
                                    num_classes=10),
    'lowres2digit': EmbeddedDataset(translation_builders.GenlabLowres2Digit,
                                    num_classes=10),
    'mnist2sklearn': EmbeddedDataset(translation_builders.GenlabMnist2Sklearn,
                                     num_classes=10),
    'sklearn28': EmbeddedDataset(translation_builders.GenlabSklearn28, num_classes=10),
}

_DEFAULT_CACHE = '~/.cache/genlab/tensorflow_datasets'


def default_data_dir() -> str:
  """Where embedded datasets are prepared: $GENLAB_DATA_DIR or the cache."""
  return os.path.expanduser(os.environ.get('GENLAB_DATA_DIR', _DEFAULT_CACHE))


def _unknown(name: str) -> DataError:
  known = ', '.join(sorted(DATASETS))
  return DataError(
      f"unknown dataset '{name}'; known: {known}, or tfds:NAME for a prepared"
      ' tfds catalogue dataset (e.g. tfds:mnist)'
  )


def _builder(name: str, data_dir: str | None):
  """Resolves a genlab name to a ready tfds builder."""
  if not isinstance(name, str):
    raise _unknown(repr(name))
  if name.startswith(catalog.PREFIX):
    tfds_name = name[len(catalog.PREFIX):]
    if not tfds_name:
      raise _unknown(name)
    return catalog.get_builder(tfds_name, data_dir)
  if name not in DATASETS:
    raise _unknown(name)
  root = default_data_dir() if data_dir is None else os.path.expanduser(data_dir)
  return builders.prepare(DATASETS[name].builder_cls, root)


def get_source(
    name: str, split: str, data_dir: str | None = None
) -> catalog.NormalizedSource:
  """Random-access source over one split of a dataset.

  Args:
    name: a key of `DATASETS` or 'tfds:NAME'.
    split: 'train', 'test' (tfds split specs such as 'train[:10%]' also work).
    data_dir: tfds data root. None: $GENLAB_DATA_DIR (or the genlab cache)
      for embedded sets, which are prepared there on first use; tfds's
      default (~/tensorflow_datasets) for tfds:NAME.

  Returns:
    Sequence with `len()` and `[i] -> {field: value}` with the fields of
    `dataset_info(name)['fields']`; for 'labelled' sets {'image': x,
    'label': int64}, x a uint8 HxWxC image or, for point sets, a float32 [2]
    point.
  """
  return catalog.open_split(_builder(name, data_dir), split)


def load_split(
    name: str,
    split: str,
    data_dir: str | None = None,
    shard: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
  """Materializes a split, or one process's shard of it, as field arrays.

  With `shard=(index, count)` the split's N records are cut into `count`
  contiguous shards in record order whose sizes differ by at most one (the
  first N % count hold one more; see `shard_bounds`), the same cut as
  `np.array_split(np.arange(N), count)[index]`, and only the records of
  shard `index` are requested from the data source. The shards of all
  indices concatenate to the whole split.

  Args:
    name: as for `get_source`.
    split: as for `get_source`.
    data_dir: as for `get_source`.
    shard: (index, count), 0 <= index < count; None for the whole split.

  Returns:
    {field: array [n, ...]} for every field of `dataset_info(name)['fields']`,
    in its dtype (images uint8, labels int64).
  """
  return _read(_builder(name, data_dir), name, split, shard)


def _read(builder, name: str, split: str, shard) -> dict[str, np.ndarray]:
  n = len(catalog.open_split(builder, split))
  if n == 0:
    raise DataError(f"split '{split}' of '{name}' is empty")
  if shard is None:
    start, stop = 0, n
  elif isinstance(shard, (tuple, list)) and len(shard) == 2:
    start, stop = shard_bounds(n, *shard)
  else:
    raise DataError(f'shard must be (index, count), got {shard!r}')
  return catalog.read_fields(builder, split, start, stop)


def load_arrays(
    name: str, split: str, data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """Materializes a whole split of a 'labelled' dataset in memory.

  Args:
    name: as for `get_source`.
    split: as for `get_source`.
    data_dir: as for `get_source`.

  Returns:
    inputs: uint8 images [N, H, W, C], or float32 points [N, 2] for point
    sets; labels: int64 [N].
  """
  builder = _builder(name, data_dir)
  layout = catalog.schema(builder).layout
  if layout != 'labelled':
    raise DataError(
        f"dataset '{name}' has fields {', '.join(LAYOUTS[layout])}, not"
        ' image and label; read it with genlab.data.load_split'
    )
  arrays = _read(builder, name, split, None)
  return arrays['image'], arrays['label']


def dataset_info(name: str, data_dir: str | None = None) -> dict:
  """Shape and size facts the trainer needs to build models.

  Args:
    name: as for `get_source`.
    data_dir: as for `get_source`.

  Returns:
    {'image_shape': (H, W, C), or (2,) for point sets; for two-domain sets
       the shape of source / a (target / b have the same),
     'modality': 'images' or 'points',
     'num_classes': int (0 if unlabelled; the number of modes for ring8 and
       grid25), 'num_train': int, 'num_test': int (0 if there is no 'test'
       split),
     'layout': 'labelled' (image, label), 'paired' (source, target, label)
       or 'unpaired' (a, a_label, b, b_label),
     'fields': {field: {'dtype': numpy dtype name, 'shape': per-example
       shape, None where it varies}} for every field of the layout}.
  """
  builder = _builder(name, data_dir)
  schema = catalog.schema(builder)
  label_key = schema.fields['label'].key if 'label' in schema.fields else None
  if name in DATASETS:
    num_classes = DATASETS[name].num_classes
  elif label_key is None:
    num_classes = 0
  else:
    label = builder.info.features[label_key]
    num_classes = int(getattr(label, 'num_classes', 0) or 0)
  return {
      'image_shape': tuple(schema.fields[schema.input_field].shape),
      'modality': schema.modality,
      'num_classes': num_classes,
      'num_train': catalog.num_examples(builder, 'train'),
      'num_test': catalog.num_examples(builder, 'test'),
      'layout': schema.layout,
      'fields': schema.describe(),
  }
