"""Read-only access to datasets from the tfds catalogue (`tfds:NAME`).

genlab never downloads: offline, tfds retries storage.googleapis.com for
minutes before failing, and preparing most catalogue datasets needs
TensorFlow (e.g. PNG encoding of `Image` features). So a dataset must already
be prepared, as array_record, in `data_dir`; otherwise we fail at once with a
one-line recipe for doing that on a machine with internet.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from genlab.data.errors import DataError

PREFIX = 'tfds:'


def tfds_reads_are_mocked() -> bool:
  """Whether tfds's data-source reader has been replaced by a test double.

  `tfds.testing.mock_data` replaces `DatasetBuilder.as_data_source` (and
  redirects `data_dir`) but not `is_prepared()`, so under it every catalogue
  dataset looks unprepared even though random records can be served.

  We skip the preparedness check only when the reader is not tfds's own
  method, i.e. when records need not come from `data_dir`, the one case where
  "prepared in data_dir" says nothing. In real use the method is always tfds's
  own, so the check always runs; and even if skipped, this module never calls
  `download_and_prepare`, so no download can start. We deliberately do not
  patch `is_prepared` in tests instead: the real code path would go untested.

  Returns:
    True under `tfds.testing.mock_data` (or any replacement of the reader).
  """
  reader = tfds.core.DatasetBuilder.as_data_source
  return getattr(reader, '__module__', None) != tfds.core.DatasetBuilder.__module__


def prepare_command(name: str, data_dir: str) -> str:
  """One-line shell recipe that prepares `name` in `data_dir` (needs internet)."""
  return (
      "pip install 'genlab[tf]' && python -c \"import tensorflow_datasets as"
      f" tfds; tfds.builder('{name}', data_dir='{data_dir}')"
      ".download_and_prepare(file_format='array_record')\""
  )


def _first_line(e: BaseException) -> str:
  text = str(e).strip()
  return text.splitlines()[0] if text else type(e).__name__


def get_builder(name: str, data_dir: str | None = None) -> tfds.core.DatasetBuilder:
  """Returns the builder of a prepared catalogue dataset, or raises DataError.

  Never downloads and never waits on the network.

  Args:
    name: tfds name without the `tfds:` prefix, e.g. 'mnist' or 'cifar10:3.0.2'.
    data_dir: tfds data root; None means tfds's default (~/tensorflow_datasets,
      or $TFDS_DATA_DIR).

  Returns:
    A builder whose data can be read with `as_data_source`.
  """
  if data_dir is not None:
    data_dir = os.path.expanduser(data_dir)
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as e:  # pylint: disable=broad-except
    # tfds raises DatasetNotFoundError, AssertionError (bad version),
    # ImportError (community namespaces), ...; all mean "cannot use NAME".
    raise DataError(
        f"unknown or unusable tfds dataset '{name}': {_first_line(e)} (see"
        ' https://www.tensorflow.org/datasets/catalog for names)'
    ) from None
  if not builder.is_prepared() and not tfds_reads_are_mocked():
    root = os.fspath(builder.data_dir_root)
    raise DataError(
        f"dataset '{name}' is not prepared in {root}; on a machine with"
        f' internet run: {prepare_command(name, root)} then copy {root} here'
        ' (or pass --config.data.data_dir=...)'
    )
  return builder


def image_and_label_keys(
    builder: tfds.core.DatasetBuilder,
) -> tuple[str, str | None]:
  """Feature keys holding the image and the label (None if unlabelled)."""
  features = builder.info.features
  keys = set(features.keys()) if hasattr(features, 'keys') else set()
  supervised = builder.info.supervised_keys
  if 'image' in keys:
    image_key = 'image'
  elif supervised and isinstance(supervised[0], str) and supervised[0] in keys:
    image_key = supervised[0]
  else:
    raise DataError(
        f"tfds dataset '{builder.name}' has no image feature (features:"
        f' {sorted(keys)}); genlab needs image datasets'
    )
  if 'label' in keys:
    label_key = 'label'
  elif supervised and len(supervised) > 1 and supervised[1] in keys:
    label_key = supervised[1]
  else:
    label_key = None  # Unlabelled sets (e.g. celeb_a) get label -1.
  image = features[image_key]
  if np.dtype(image.np_dtype) != np.uint8 or len(image.shape) not in (2, 3):
    raise DataError(
        f"tfds dataset '{builder.name}' feature '{image_key}' is"
        f' {image.np_dtype} {image.shape}; genlab needs uint8 HxW or HxWxC images'
    )
  return image_key, label_key


class NormalizedSource:
  """Random-access view yielding {'image': uint8 HxWxC, 'label': int64}.

  Plain class (not a closure) so it pickles into grain worker processes.
  """

  def __init__(self, source: Any, image_key: str = 'image', label_key: str | None = 'label'):
    self._source = source
    self._image_key = image_key
    self._label_key = label_key

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    record = self._source[index]
    image = np.asarray(record[self._image_key], dtype=np.uint8)
    if image.ndim == 2:
      image = image[..., None]
    # tfds returns scalar Tensor features as Python ints, ClassLabel as
    # numpy scalars; the trainer stacks these, so make the dtype explicit.
    if self._label_key is None:
      label = np.int64(-1)
    else:
      label = np.int64(record[self._label_key])
    return {'image': image, 'label': label}

  def __repr__(self) -> str:
    return f'NormalizedSource({self._source!r})'


def open_split(builder: tfds.core.DatasetBuilder, split: str) -> NormalizedSource:
  """Opens one split of a builder returned by `get_builder` (or prepared)."""
  image_key, label_key = image_and_label_keys(builder)
  try:
    source = builder.as_data_source(split=split)
  except NotImplementedError as e:
    # Prepared with TF's default tfrecord format, which has no random access.
    raise DataError(
        f"dataset '{builder.name}' in {builder.data_dir_root} is not in a"
        " random-access format; re-prepare it with file_format='array_record'"
        f' ({_first_line(e)})'
    ) from None
  except (KeyError, ValueError, AssertionError) as e:
    known = sorted(builder.info.splits.keys())
    raise DataError(
        f"cannot open split '{split}' of '{builder.name}' (splits: {known}):"
        f' {_first_line(e)}'
    ) from None
  return NormalizedSource(source, image_key, label_key)


def get_source(name: str, split: str, data_dir: str | None = None) -> NormalizedSource:
  """Random-access source for `split` of catalogue dataset `name`.

  Args:
    name: tfds name without the `tfds:` prefix.
    split: tfds split spec, e.g. 'train', 'test' or 'train[:90%]'.
    data_dir: tfds data root; None means tfds's default.

  Returns:
    A `NormalizedSource` (len, getitem -> {'image', 'label'}).
  """
  return open_split(get_builder(name, data_dir), split)


def num_examples(builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Examples in `split`, 0 when the dataset has no such split."""
  splits = builder.info.splits
  if split in splits:
    return int(splits[split].num_examples)
  if tfds_reads_are_mocked():
    # Mocked builders have no split metadata but serve `num_examples` records.
    return len(builder.as_data_source(split=split))
  return 0
