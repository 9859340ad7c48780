"""Datasets for genlab: a small explicit registry plus the tfds catalogue.

Names:
  'mnist5k', 'digits'  embedded image sets, prepared on first use into
                       $GENLAB_DATA_DIR (default ~/.cache/genlab/tensorflow_datasets)
  'ring8', 'grid25'    toy 2-D Gaussian mixtures of the PacGAN protocol
                       (genlab.data.toy), generated there on first use;
                       100,000 train and 10,000 test points, label = mode
  'tfds:NAME'          a tfds catalogue dataset that is already prepared as
                       array_record (default data dir ~/tensorflow_datasets)

Every source yields {'image': x, 'label': int64}, where x is a uint8 HxWxC
image in 0..255, or for point sets ('modality': 'points' in `dataset_info`)
a float32 [2] point: 'image' names the model input whatever its modality.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from genlab.data import builders
from genlab.data import catalog
from genlab.data.errors import DataError

__all__ = [
    'DATASETS',
    'DataError',
    'dataset_info',
    'default_data_dir',
    'get_source',
    'load_arrays',
]


@dataclasses.dataclass(frozen=True)
class EmbeddedDataset:
  """A dataset generated locally (from package files, or sampled)."""

  builder_cls: type[tfds.core.GeneratorBasedBuilder]
  num_classes: int  # For the toy sets: the number of mixture modes.


DATASETS: dict[str, EmbeddedDataset] = {
    'mnist5k': EmbeddedDataset(builders.GenlabMnist5k, num_classes=10),
    'digits': EmbeddedDataset(builders.GenlabDigits, num_classes=10),
    'ring8': EmbeddedDataset(builders.GenlabRing8, num_classes=8),
    'grid25': EmbeddedDataset(builders.GenlabGrid25, num_classes=25),
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
    Sequence with `len()` and `[i] -> {'image': x, 'label': int64}`, x a
    uint8 HxWxC image or, for point sets, a float32 [2] point.
  """
  return catalog.open_split(_builder(name, data_dir), split)


def load_arrays(
    name: str, split: str, data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """Materializes a whole split in memory.

  Args:
    name: as for `get_source`.
    split: as for `get_source`.
    data_dir: as for `get_source`.

  Returns:
    inputs: uint8 images [N, H, W, C], or float32 points [N, 2] for point
    sets; labels: int64 [N].
  """
  inputs, labels = catalog.read_arrays(_builder(name, data_dir), split)
  if len(labels) == 0:
    raise DataError(f"split '{split}' of '{name}' is empty")
  return inputs, labels


def dataset_info(name: str, data_dir: str | None = None) -> dict:
  """Shape and size facts the trainer needs to build models.

  Args:
    name: as for `get_source`.
    data_dir: as for `get_source`.

  Returns:
    {'image_shape': (H, W, C), or (2,) for point sets,
     'modality': 'images' or 'points',
     'num_classes': int (0 if unlabelled; the number of modes for ring8 and
       grid25), 'num_train': int, 'num_test': int (0 if there is no 'test'
       split)}.
  """
  builder = _builder(name, data_dir)
  spec = catalog.input_spec(builder)
  if name in DATASETS:
    num_classes = DATASETS[name].num_classes
  elif spec.label_key is None:
    num_classes = 0
  else:
    label = builder.info.features[spec.label_key]
    num_classes = int(getattr(label, 'num_classes', 0) or 0)
  return {
      'image_shape': tuple(int(d) for d in spec.shape),
      'modality': spec.modality,
      'num_classes': num_classes,
      'num_train': catalog.num_examples(builder, 'train'),
      'num_test': catalog.num_examples(builder, 'test'),
  }
