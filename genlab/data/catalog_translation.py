"""Image-to-image sets of the tfds catalogue, read in genlab's two-domain layouts.

genlab.data.catalog reads a `tfds:NAME` set as 'labelled' unless NAME (the
builder's `name/config`) starts with a prefix of `TRANSLATIONS`, which says
the set's layout and where its fields are stored:

  prefix       layout     genlab split  tfds splits     fields from each split
  cycle_gan/   unpaired   train         trainA, trainB  a, a_label <- image, label
                          test          testA, testB    b, b_label <- image, label

`cycle_gan/*` (horse2zebra, apple2orange, monet2photo, ...; Zhu et al. 2017)
stores each domain as a split of its own size, e.g. horse2zebra's train has
1,067 horses (trainA) and 1,334 zebras (trainB). genlab's unpaired layout has
one row per record of domain a: row i holds a[i] and b[i mod n_b], n_a rows in
all. That pairing means nothing and training never uses it: the two domains'
images are unrelated, and a CycleGAN only ever asks for a batch of a's and a
batch of b's (genlab.steps.cycle). Because of the rule, a b image shares a
row with the same a image in every epoch (shuffling moves rows, it does not
re-pair them), b images past the first n_a are in no row when n_b > n_a
(horse2zebra: 267 of the zebras), and some b images are in several rows when
n_b < n_a. A split spec with a slice, e.g. 'train[:10%]', slices both domains.

A process's shard of a split (`genlab.data.load_split(..., shard=...)`) is a
contiguous range of a-rows, and it reads just those a records and the b
records of the same rows (modulo n_b).

Labels: `a_label` and `b_label` are the records' `label` feature when the
builder has one (cycle_gan's ClassLabel names the domain: A = 0, B = 1),
otherwise the domain's index (0 for a, 1 for b). They name a domain, not a
class within it, so `dataset_info` reports num_classes 0.

Image shape: cycle_gan declares its images (None, None, 3), so their size is
that of the first record of the train a split (256x256 for horse2zebra), and
every image genlab reads from either domain must have it (checked per record;
a mismatch is a one-line DataError). tfds decodes grey images to 3 channels.

The catalogue (tensorflow_datasets 4.9.10) has no aligned-pair (Pix2Pix-style)
set that fits: cycle_gan/facades and cycle_gan/maps are the unpaired versions;
div2k pairs images of different sizes, cityscapes needs a manual download and
pairs photos with class-id maps.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np

from genlab.data import fields
from genlab.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class Translation:
  """How a family of catalogue sets maps onto a genlab layout.

  Attributes:
    prefix: matched against the builder's 'name/config' plus a trailing '/'
      (so 'cycle_gan/' matches every config of cycle_gan).
    layout: a key of `fields.LAYOUTS` ('unpaired' is the only one so far).
    splits: {genlab split: (tfds split of domain a, tfds split of domain b)}.
    image: the image feature of each domain's records.
    label: the label feature of each domain's records; if a builder lacks it,
      the labels are the domain's index.
  """

  prefix: str
  layout: str
  splits: Mapping[str, tuple[str, str]]
  image: str = 'image'
  label: str = 'label'


TRANSLATIONS: tuple[Translation, ...] = (
    Translation(
        prefix='cycle_gan/',
        layout='unpaired',
        splits={'train': ('trainA', 'trainB'), 'test': ('testA', 'testB')},
    ),
)

DOMAINS = ('a', 'b')


def full_name(builder: Any) -> str:
  """'name/config' of a tfds builder ('name' when it has no config)."""
  config = getattr(builder, 'builder_config', None)
  return f'{builder.name}/{config.name}' if config is not None else builder.name


def lookup(builder: Any) -> Translation | None:
  """The entry of `TRANSLATIONS` for a builder, None for a 'labelled' set."""
  name = full_name(builder) + '/'
  for translation in TRANSLATIONS:
    if name.startswith(translation.prefix):
      return translation
  return None


def domain_splits(translation: Translation, builder: Any,
                  split: str) -> tuple[str, str]:
  """The tfds splits (a, b) of a genlab split spec such as 'train[:10%]'."""
  base, bracket, rest = split.partition('[')
  if base not in translation.splits:
    raise DataError(
        f"'{full_name(builder)}' has no split '{split}'; genlab reads it as"
        f" {', '.join(sorted(translation.splits))} (from the tfds splits"
        f" {', '.join(s for pair in translation.splits.values() for s in pair)})"
    )
  return tuple(s + bracket + rest for s in translation.splits[base])


def declared_image_shape(translation: Translation,
                         features: Mapping[str, Any]) -> tuple:
  """The image feature's declared shape; None where a dimension varies."""
  return tuple(features[translation.image].shape)


def schemas(translation: Translation, features: Mapping[str, Any],
            image_shape: Sequence[int]) -> tuple[fields.Schema, ...]:
  """(the set's Schema, the 'labelled' Schema of domain a, that of domain b).

  Each domain's records are read through its 'labelled' schema (image and
  label of one tfds split); `UnpairedSource` joins them into the set's rows.

  Args:
    translation: the set's entry of `TRANSLATIONS`.
    features: the builder's features.
    image_shape: the (H, W, C) of every image (see the module docstring).

  Returns:
    The three schemas.
  """
  if translation.layout != 'unpaired':
    raise NotImplementedError(f'layout {translation.layout}')
  feature = features[translation.image]
  shape = tuple(int(d) for d in image_shape)
  if np.dtype(feature.np_dtype) != np.uint8 or len(shape) != 3:
    raise DataError(
        f"feature '{translation.image}' is {np.dtype(feature.np_dtype)}"
        f' {shape}; genlab needs uint8 HxWxC images'
    )
  has_label = translation.label in features
  domains = []
  for index in range(len(DOMAINS)):
    label = fields.Field(np.int64, (), translation.label if has_label else None,
                         fill=index)
    domains.append(fields.Schema('labelled', {
        'image': fields.Field(np.uint8, shape, translation.image),
        'label': label,
    }))
  joined = {}
  for domain, schema in zip(DOMAINS, domains):
    joined[domain] = schema.fields['image']
    joined[f'{domain}_label'] = schema.fields['label']
  return (fields.Schema('unpaired', joined), *domains)


class UnpairedSource:
  """Random-access rows of an unpaired set: row i = (a[i], b[i mod n_b]).

  `a` and `b` are random-access sources of {'image', 'label'} records (e.g.
  genlab.data.catalog.NormalizedSource over one tfds split each). Reading
  rows reads only their a records and the b records they use. Plain class
  (not a closure) so it pickles into grain worker processes.
  """

  def __init__(self, a: Any, b: Any, schema: fields.Schema,
               where: tuple[str, str]):
    """Joins the domains.

    Args:
      a: the source of domain a.
      b: the source of domain b, not empty unless a is.
      schema: the unpaired Schema (`schemas(...)[0]`).
      where: how to name each domain's split in errors, e.g.
        ("split 'trainA' of 'cycle_gan/horse2zebra'", ...).
    """
    if len(a) and not len(b):
      raise DataError(f'{where[1]} is empty, so {where[0]} has no partners')
    self._a, self._b, self._where = a, b, where
    self.schema = schema
    self._shape = tuple(schema.fields['a'].shape)

  def __len__(self) -> int:
    return len(self._a)

  def b_rows(self, indices: Sequence[int]) -> list[int]:
    """The b records that rows `indices` hold."""
    n_b = len(self._b)
    return [int(i) % n_b for i in indices]

  def _checked(self, record: Mapping[str, Any], domain: int, index: int):
    image = record['image']
    if image.shape != self._shape:
      raise DataError(
          f'record {index} of {self._where[domain]} is a'
          f" {'x'.join(map(str, image.shape))} image, not the set's"
          f" {'x'.join(map(str, self._shape))} (the size of the first train a"
          ' image); genlab needs one image size per dataset'
      )
    return record

  def _join(self, i: int, a: Mapping[str, Any], j: int,
            b: Mapping[str, Any]) -> dict[str, Any]:
    a, b = self._checked(a, 0, i), self._checked(b, 1, j)
    return {'a': a['image'], 'a_label': a['label'],
            'b': b['image'], 'b_label': b['label']}

  def __getitem__(self, index: int) -> dict[str, Any]:
    index = int(index)
    if not -len(self) <= index < len(self):
      raise IndexError(f'row {index} of {len(self)}')
    index %= len(self)
    (j,) = self.b_rows([index])
    return self._join(index, self._a[index], j, self._b[j])

  def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
    indices = [int(i) for i in indices]
    rows_b = self.b_rows(indices)
    records_a = self._a.__getitems__(indices)
    records_b = self._b.__getitems__(rows_b)
    return [self._join(i, a, j, b)
            for i, a, j, b in zip(indices, records_a, rows_b, records_b)]

  def __repr__(self) -> str:
    return f'UnpairedSource(a={self._a!r}, b={self._b!r})'
