"""Datasets for genlab: a small explicit registry plus the tfds catalogue.

Names:
  'mnist5k', 'digits'  embedded sets, prepared on first use into
                       $GENLAB_DATA_DIR (default ~/.cache/genlab/tensorflow_datasets)
  'tfds:NAME'          a tfds catalogue dataset that is already prepared as
                       array_record (default data dir ~/tensorflow_datasets)

Every source yields {'image': uint8 HxWxC in 0..255, 'label': int64}.
"""

from __future__ import annotations

import dataclasses
import os

import grain
import numpy as np

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
  """A dataset generated locally from files inside installed packages."""

  builder_cls: type[builders._EmbeddedBuilder]  # pylint: disable=protected-access
  num_classes: int


DATASETS: dict[str, EmbeddedDataset] = {
    'mnist5k': EmbeddedDataset(builders.GenlabMnist5k, num_classes=10),
    'digits': EmbeddedDataset(builders.GenlabDigits, num_classes=10),
}

_DEFAULT_CACHE = '~/.cache/genlab/tensorflow_datasets'
# Only used to materialize whole splits. The size barely matters (mnist5k
# train: 0.22 s at 256, 1024 or 4000); per-record tfds decoding dominates.
_LOAD_BATCH = 1024


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
    name: 'mnist5k', 'digits' or 'tfds:NAME'.
    split: 'train', 'test' (tfds split specs such as 'train[:10%]' also work).
    data_dir: tfds data root. None: $GENLAB_DATA_DIR (or the genlab cache)
      for embedded sets, which are prepared there on first use; tfds's
      default (~/tensorflow_datasets) for tfds:NAME.

  Returns:
    Sequence with `len()` and `[i] -> {'image': uint8 HxWxC, 'label': int64}`.
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
    images: uint8 [N, H, W, C]; labels: int64 [N].
  """
  source = get_source(name, split, data_dir)
  if len(source) == 0:
    raise DataError(f"split '{split}' of '{name}' is empty")
  dataset = grain.MapDataset.source(source).batch(_LOAD_BATCH)
  # Indexing reads in the calling thread; iterating would start grain's
  # prefetch threads, which measured no faster for a one-off read into RAM.
  batches = [dataset[i] for i in range(len(dataset))]
  images = np.concatenate([b['image'] for b in batches])
  labels = np.concatenate([b['label'] for b in batches]).astype(np.int64)
  return images, labels


def dataset_info(name: str, data_dir: str | None = None) -> dict:
  """Shape and size facts the trainer needs to build models.

  Args:
    name: as for `get_source`.
    data_dir: as for `get_source`.

  Returns:
    {'image_shape': (H, W, C), 'num_classes': int (0 if unlabelled),
     'num_train': int, 'num_test': int (0 if there is no 'test' split)}.
  """
  builder = _builder(name, data_dir)
  image_key, label_key = catalog.image_and_label_keys(builder)
  features = builder.info.features
  if name in DATASETS:
    num_classes = DATASETS[name].num_classes
  elif label_key is None:
    num_classes = 0
  else:
    num_classes = int(getattr(features[label_key], 'num_classes', 0) or 0)
  shape = tuple(int(d) for d in features[image_key].shape)
  if len(shape) == 2:
    shape += (1,)
  return {
      'image_shape': shape,
      'num_classes': num_classes,
      'num_train': catalog.num_examples(builder, 'train'),
      'num_test': catalog.num_examples(builder, 'test'),
  }
