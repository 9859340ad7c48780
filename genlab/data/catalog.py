"""Read-only access to prepared tfds datasets: the catalogue and genlab's own.

Every genlab dataset, embedded or `tfds:NAME`, is read through `open_split`
(random access) and `read_arrays` (whole splits).

genlab never downloads a catalogue dataset: offline, tfds retries
storage.googleapis.com for minutes before failing, and preparing most
catalogue datasets needs TensorFlow (e.g. PNG encoding of `Image` features).
So a dataset must already be prepared, as array_record, in `data_dir`;
otherwise we fail at once with a one-line recipe for doing that on a machine
with internet.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2  # tfds's TF-free copy

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


@dataclasses.dataclass(frozen=True)
class InputSpec:
  """Which features hold a dataset's examples and labels, and how to read them.

  Attributes:
    key: feature holding the model input.
    label_key: feature holding the label; None for unlabelled sets.
    modality: 'images' (uint8 HxWxC) or 'points' (float32 [D]).
    shape: normalized per-example shape, (H, W, C) or (D,); None for a
      dimension that varies between examples.
    add_channel: the stored images are HxW and get a trailing C = 1.
  """

  key: str
  label_key: str | None
  modality: str
  shape: tuple[int | None, ...]
  add_channel: bool = False

  @property
  def dtype(self) -> type[np.generic]:
    return np.uint8 if self.modality == 'images' else np.float32

  def normalize(self, x: Any) -> np.ndarray:
    """One stored input, or a stack of them, as dtype with `shape` trailing."""
    x = np.asarray(x, dtype=self.dtype)
    return x[..., None] if self.add_channel else x


def input_spec(builder: tfds.core.DatasetBuilder) -> InputSpec:
  """Finds the input and label features of a builder and checks their type."""
  features = builder.info.features
  keys = set(features.keys()) if hasattr(features, 'keys') else set()
  supervised = builder.info.supervised_keys
  if 'image' in keys:
    key = 'image'
  elif supervised and isinstance(supervised[0], str) and supervised[0] in keys:
    key = supervised[0]  # e.g. 'point' for the toy sets.
  else:
    raise DataError(
        f"tfds dataset '{builder.name}' has no image feature (features:"
        f' {sorted(keys)}); genlab needs image (or point) datasets'
    )
  if 'label' in keys:
    label_key = 'label'
  elif supervised and len(supervised) > 1 and supervised[1] in keys:
    label_key = supervised[1]
  else:
    label_key = None  # Unlabelled sets (e.g. celeb_a) get label -1.
  feature = features[key]
  dtype, shape = np.dtype(feature.np_dtype), tuple(feature.shape)
  if dtype == np.uint8 and len(shape) in (2, 3):
    add_channel = len(shape) == 2
    return InputSpec(key, label_key, 'images', shape + (1,) * add_channel,
                     add_channel)
  if dtype == np.float32 and len(shape) == 1:
    return InputSpec(key, label_key, 'points', shape)
  raise DataError(
      f"tfds dataset '{builder.name}' feature '{key}' is {dtype} {shape};"
      ' genlab needs uint8 HxW or HxWxC images or float32 [D] points'
  )


class NormalizedSource:
  """Random-access view yielding {'image': input, 'label': int64}.

  'image' is genlab's key for the model input in every modality (a uint8
  HxWxC image, or a float32 [D] point for point sets), so that pipelines and
  training steps need no per-modality branch.

  Plain class (not a closure) so it pickles into grain worker processes.
  """

  def __init__(self, source: Any, spec: InputSpec):
    self._source = source
    self.spec = spec

  def __len__(self) -> int:
    return len(self._source)

  def _normalize(self, record: Mapping[str, Any]) -> dict[str, np.ndarray]:
    # tfds returns scalar Tensor features as Python ints, ClassLabel as
    # numpy scalars; the trainer stacks these, so make the dtype explicit.
    if self.spec.label_key is None:
      label = np.int64(-1)
    else:
      label = np.int64(record[self.spec.label_key])
    return {'image': self.spec.normalize(record[self.spec.key]), 'label': label}

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    return self._normalize(self._source[index])

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, np.ndarray]]:
    # tfds reads a batch of keys in one call, much faster than key by key.
    # Under tfds.testing.mock_data batch reads raise TypeError (tfds 4.9.10
    # binds the mock's `_getitems` without its `self`), so read key by key.
    getitems = getattr(self._source, '__getitems__', None)
    if getitems is None or tfds_reads_are_mocked():
      records = [self._source[i] for i in indices]
    else:
      records = getitems(list(indices))
    return [self._normalize(r) for r in records]

  def __repr__(self) -> str:
    return f'NormalizedSource({self._source!r})'


def open_split(builder: tfds.core.DatasetBuilder, split: str, *,
               raw: bool = False) -> Any:
  """Opens one split of a builder returned by `get_builder` (or prepared).

  Args:
    builder: a prepared builder.
    split: tfds split spec.
    raw: return tfds's source of serialized records instead.

  Returns:
    A `NormalizedSource`, or with `raw` a sequence of `bytes`.
  """
  spec = input_spec(builder)
  kwargs = {}
  if raw:
    kwargs['deserialize_method'] = tfds.decode.DeserializeMethod.RAW_BYTES
  try:
    source = builder.as_data_source(split=split, **kwargs)
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
  return source if raw else NormalizedSource(source, spec)


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


def _plain_tensor(feature: Any) -> bool:
  """Whether a feature is stored as a fixed-shape numeric list, undecoded.

  Such features (every feature of genlab's own builders) can be read straight
  from the tf.train.Example protos; anything else (PNG-encoded `Image`s,
  compressed or string tensors) needs tfds's decoder.
  """
  if not isinstance(feature, tfds.features.Tensor):
    return False
  stored, decoded = feature.get_serialized_info(), feature.get_tensor_info()
  dtype = np.dtype(decoded.np_dtype)
  return (
      stored.shape == decoded.shape
      and np.dtype(stored.np_dtype) == dtype
      and all(isinstance(d, int) for d in decoded.shape)
      # uint64 is stored bitcast and bool as int: keep those with tfds.
      and (dtype.kind == 'f' or (dtype.kind in 'iu' and dtype != np.uint64))
  )


def _read_columns(records: list[bytes], features: Mapping[str, Any],
                  keys: Sequence[str]) -> dict[str, np.ndarray]:
  """Parses serialized Examples into one array per key.

  tfds's decoder spends ~25 us a record in Python layers: ring8's 100k train
  points took 3.0 s through its batched reads (~40 s key by key), 0.9 s here.
  """
  examples = [tf_example_pb2.Example.FromString(r).features.feature
              for r in records]
  columns = {}
  for key in keys:
    info = features[key].get_tensor_info()
    kind = 'float_list' if np.dtype(info.np_dtype).kind == 'f' else 'int64_list'
    shape = (len(records),) + tuple(info.shape)
    values = itertools.chain.from_iterable(
        getattr(e[key], kind).value for e in examples)
    columns[key] = np.fromiter(values, info.np_dtype,
                               count=int(np.prod(shape))).reshape(shape)
  return columns


def read_arrays(builder: tfds.core.DatasetBuilder, split: str,
                chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
  """Reads a whole split as (inputs, labels), normalized like `open_split`.

  Records are read in batches of `chunk` keys; plain numeric features are
  parsed without tfds's decoder (see `_read_columns`), others decoded by tfds.

  Args:
    builder: a prepared builder.
    split: tfds split spec.
    chunk: records per read.

  Returns:
    inputs: uint8 [N, H, W, C] or float32 [N, D]; labels: int64 [N] (-1 for
    unlabelled sets).
  """
  source = open_split(builder, split)
  spec = source.spec
  features = builder.info.features
  keys = [k for k in (spec.key, spec.label_key) if k is not None]
  if len(source) == 0:
    shape = tuple(d or 0 for d in spec.shape)
    return np.zeros((0,) + shape, spec.dtype), np.zeros((0,), np.int64)
  fast = not tfds_reads_are_mocked() and all(
      _plain_tensor(features[k]) for k in keys)
  raw = open_split(builder, split, raw=True) if fast else None
  inputs, labels = [], []
  for start in range(0, len(source), chunk):
    indices = list(range(start, min(start + chunk, len(source))))
    if fast:
      columns = _read_columns(raw.__getitems__(indices), features, keys)
      inputs.append(spec.normalize(columns[spec.key]))
      labels.append(columns[spec.label_key] if spec.label_key
                    else np.full(len(indices), -1))
    else:
      records = source.__getitems__(indices)
      inputs.append(np.stack([r['image'] for r in records]))
      labels.append(np.array([r['label'] for r in records]))
  return np.concatenate(inputs), np.concatenate(labels).astype(np.int64)


def num_examples(builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Examples in `split`, 0 when the dataset has no such split."""
  splits = builder.info.splits
  if split in splits:
    return int(splits[split].num_examples)
  if tfds_reads_are_mocked():
    # Mocked builders have no split metadata but serve `num_examples` records.
    return len(builder.as_data_source(split=split))
  return 0
