"""Read-only access to prepared tfds datasets: the catalogue and genlab's own.

Every genlab dataset, embedded or `tfds:NAME`, is read through `open_split`
(random access) and `read_fields` (a split or a contiguous range of it as
arrays), with the field names of its `schema` (see genlab.data.fields).

genlab never downloads a catalogue dataset: offline, tfds retries
storage.googleapis.com for minutes before failing, and preparing most
catalogue datasets needs TensorFlow (e.g. PNG encoding of `Image` features).
So a dataset must already be prepared, as array_record, in `data_dir`;
otherwise we fail at once with a one-line recipe for doing that on a machine
with internet.

Catalogue sets are read as 'labelled', except the image-to-image families
listed in genlab.data.catalog_translation (e.g. `cycle_gan/*`, read as
'unpaired' from one tfds split per domain).
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2  # tfds's TF-free copy

from genlab.data import catalog_translation as translation
from genlab.data import fields
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


def schema(builder: tfds.core.DatasetBuilder) -> fields.Schema:
  """The layout and fields of a builder, checking that genlab can read them.

  genlab's own builders name their layout in a `LAYOUT` class attribute and
  store exactly its fields (see `fields.stored_schema`). A catalogue family
  of `catalog_translation.TRANSLATIONS` has that entry's layout (its image
  size may come from its first train record, see `_translation_schemas`).
  Every other builder (the tfds catalogue) is read as 'labelled': its image
  feature (or, for point sets, its first supervised key) becomes 'image', HxW
  images get a channel, and its label (-1 if it has none) becomes 'label'.

  Args:
    builder: a tfds builder.

  Returns:
    The builder's `fields.Schema`.
  """
  translation_ = translation.lookup(builder)
  if translation_ is not None:
    return _translation_schemas(builder, translation_)[0]
  features = builder.info.features
  layout = getattr(builder, 'LAYOUT', 'labelled')
  if layout != 'labelled':
    return fields.stored_schema(layout, features)
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
  label = fields.Field(np.int64, (), label_key)
  feature = features[key]
  dtype, shape = np.dtype(feature.np_dtype), tuple(feature.shape)
  if dtype == np.uint8 and len(shape) in (2, 3):
    add_channel = len(shape) == 2
    image = fields.Field(np.uint8, shape + (1,) * add_channel, key,
                         add_channel=add_channel)
  elif dtype == np.float32 and len(shape) == 1:
    image = fields.Field(np.float32, shape, key)
  else:
    raise DataError(
        f"tfds dataset '{builder.name}' feature '{key}' is {dtype} {shape};"
        ' genlab needs uint8 HxW or HxWxC images or float32 [D] points'
    )
  return fields.Schema('labelled', {'image': image, 'label': label})


def _translation_schemas(builder: tfds.core.DatasetBuilder,
                         translation_: translation.Translation):
  """`catalog_translation.schemas` of a translation set, its image size known.

  A dimension the image feature does not declare (cycle_gan declares
  (None, None, 3)) is taken from the first record of the train a split.
  """
  features = builder.info.features
  shape = translation.declared_image_shape(translation_, features)
  if None in shape:
    split = translation_.splits['train'][0]
    source = _data_source(builder, split)
    if not len(source):
      raise DataError(
          f"split '{split}' of '{translation.full_name(builder)}' is empty;"
          ' genlab takes the image size of its first record'
      )
    shape = np.shape(source[0][translation_.image])
  return translation.schemas(translation_, features, shape)


class NormalizedSource:
  """Random-access view yielding one {field: value} dict per example.

  The fields are those of the dataset's `fields.Schema`: for 'labelled' sets
  {'image': input, 'label': int64}, where 'image' is genlab's key for the
  model input in every modality (a uint8 HxWxC image, or a float32 [D] point
  for point sets), so that pipelines and training steps need no per-modality
  branch.

  Plain class (not a closure) so it pickles into grain worker processes.
  """

  def __init__(self, source: Any, schema_: fields.Schema):
    self._source = source
    self.schema = schema_

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return self.schema.example(self._source[index])

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
    # tfds reads a batch of keys in one call, much faster than key by key.
    # Under tfds.testing.mock_data batch reads raise TypeError (tfds 4.9.10
    # binds the mock's `_getitems` without its `self`), so read key by key.
    getitems = getattr(self._source, '__getitems__', None)
    if getitems is None or tfds_reads_are_mocked():
      records = [self._source[i] for i in indices]
    else:
      records = getitems(list(indices))
    return [self.schema.example(r) for r in records]

  def __repr__(self) -> str:
    return f'NormalizedSource({self._source!r})'


def _data_source(builder: tfds.core.DatasetBuilder, split: str,
                 **kwargs) -> Any:
  """tfds's data source of one split, its errors turned into DataErrors."""
  try:
    return builder.as_data_source(split=split, **kwargs)
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


def open_split(builder: tfds.core.DatasetBuilder, split: str, *,
               raw: bool = False) -> Any:
  """Opens one split of a builder returned by `get_builder` (or prepared).

  Args:
    builder: a prepared builder.
    split: tfds split spec; for a translation set (catalog_translation) a
      genlab split ('train', 'test', optionally sliced) that names one tfds
      split per domain.
    raw: return tfds's source of serialized records instead (not for
      translation sets, whose rows join two records).

  Returns:
    A `NormalizedSource` (for an unpaired translation set a
    `catalog_translation.UnpairedSource`), or with `raw` a sequence of
    `bytes`.
  """
  translation_ = translation.lookup(builder)
  if translation_ is not None:
    if raw:
      raise ValueError(f"'{builder.name}' joins two records a row: no raw reads")
    joined, *domains = _translation_schemas(builder, translation_)
    splits = translation.domain_splits(translation_, builder, split)
    sources = [NormalizedSource(_data_source(builder, s), d)
               for s, d in zip(splits, domains)]
    where = tuple(f"split '{s}' of '{translation.full_name(builder)}'"
                  for s in splits)
    return translation.UnpairedSource(*sources, joined, where)
  schema_ = schema(builder)
  kwargs = {}
  if raw:
    kwargs['deserialize_method'] = tfds.decode.DeserializeMethod.RAW_BYTES
  source = _data_source(builder, split, **kwargs)
  return source if raw else NormalizedSource(source, schema_)


def get_source(name: str, split: str, data_dir: str | None = None) -> NormalizedSource:
  """Random-access source for `split` of catalogue dataset `name`.

  Args:
    name: tfds name without the `tfds:` prefix.
    split: tfds split spec, e.g. 'train', 'test' or 'train[:90%]'.
    data_dir: tfds data root; None means tfds's default.

  Returns:
    A `NormalizedSource` (len, getitem -> {field: value}).
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


def read_fields(builder: tfds.core.DatasetBuilder, split: str, start: int = 0,
                stop: int | None = None,
                chunk: int = 16384) -> dict[str, np.ndarray]:
  """Reads records [start, stop) of a split as {field: [n, ...]}.

  Only those records are requested from the data source (in batches of
  `chunk` keys), so a process reading its shard of a large split reads just
  its shard. Plain numeric features are parsed without tfds's decoder (see
  `_read_columns`), others decoded by tfds.

  Args:
    builder: a prepared builder.
    split: tfds split spec.
    start: first record.
    stop: one past the last record; None for the end of the split.
    chunk: records per read.

  Returns:
    Every field of `schema(builder)`, normalized like `open_split`'s records.
  """
  source = open_split(builder, split)
  schema_ = source.schema
  stop = len(source) if stop is None else stop
  if not 0 <= start <= stop <= len(source):
    raise DataError(
        f"records [{start}, {stop}) are not in split '{split}' of"
        f" '{builder.name}' ({len(source)} records)"
    )
  if start == stop:
    return schema_.empty()
  features = builder.info.features
  keys = schema_.stored_keys
  fast = (not tfds_reads_are_mocked()
          and translation.lookup(builder) is None
          and all(_plain_tensor(features[k]) for k in keys))
  raw = open_split(builder, split, raw=True) if fast else None
  parts = []
  for first in range(start, stop, chunk):
    indices = list(range(first, min(first + chunk, stop)))
    if fast:
      stored = _read_columns(raw.__getitems__(indices), features, keys)
      parts.append(schema_.columns(stored, len(indices)))
    else:
      parts.append(schema_.stack(source.__getitems__(indices)))
  return {name: np.concatenate([p[name] for p in parts])
          for name in schema_.fields}


def num_examples(builder: tfds.core.DatasetBuilder, split: str) -> int:
  """Examples in `split`, 0 when the dataset has no such split.

  For a translation set, the rows of a genlab split: its a records.
  """
  translation_ = translation.lookup(builder)
  if translation_ is not None:
    if split not in translation_.splits:
      return 0
    split = translation_.splits[split][0]
  splits = builder.info.splits
  if split in splits:
    return int(splits[split].num_examples)
  if tfds_reads_are_mocked():
    # Mocked builders have no split metadata but serve `num_examples` records.
    return len(builder.as_data_source(split=split))
  return 0
