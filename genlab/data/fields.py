"""Field specs: which named arrays every example of a dataset holds.

A dataset's *layout* fixes its field names, so that models and training steps
can ask for the fields they need by name:

  'labelled'  image, label            every image set, the toy point sets and
                                      the tfds catalogue (but for the sets of
                                      genlab.data.catalog_translation); 'image'
                                      names the model input in any modality
                                      (uint8 HxWxC or float32 [D]) and 'label'
                                      is int64 (-1 for unlabelled sets)
  'paired'    source, target, label   aligned image pairs (Pix2Pix)
  'unpaired'  a, a_label, b, b_label  two domains, row i of a and b unrelated
                                      (CycleGAN; e.g. tfds:cycle_gan/*)

Images are always uint8 in 0..255; labels are always int64.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from genlab.data.errors import DataError

LAYOUTS: dict[str, tuple[str, ...]] = {
    'labelled': ('image', 'label'),
    'paired': ('source', 'target', 'label'),
    'unpaired': ('a', 'a_label', 'b', 'b_label'),
}


@dataclasses.dataclass(frozen=True)
class Field:
  """One named array of every example, and where it is stored.

  Attributes:
    dtype: numpy dtype of the field as genlab hands it out.
    shape: per-example shape; None for a dimension that varies by example.
    key: the stored tfds feature it is read from; None when the dataset does
      not store it (unlabelled sets), then every example holds `fill`.
    add_channel: stored HxW images get a trailing channel of 1.
    fill: the value of a field that is not stored.
  """

  dtype: np.dtype
  shape: tuple[int | None, ...]
  key: str | None
  add_channel: bool = False
  fill: int = -1

  def __post_init__(self):
    # Accept np.uint8 as well as np.dtype('uint8'); `.type` needs the latter.
    object.__setattr__(self, 'dtype', np.dtype(self.dtype))

  def normalize(self, stored: Any) -> np.ndarray:
    """A stored value, or a stack of them, as `dtype` with `shape` trailing."""
    x = np.asarray(stored, dtype=self.dtype)
    return x[..., None] if self.add_channel else x

  def example(self, stored: Any) -> Any:
    """One example's value: scalars as a numpy scalar (e.g. np.int64)."""
    if not self.shape:
      # tfds returns scalar Tensor features as Python ints; trainers stack
      # these, so the dtype must be explicit.
      return self.dtype.type(stored)
    return self.normalize(stored)

  def filled(self, n: int) -> np.ndarray:
    """n examples of an unstored field."""
    return np.full((n,) + self._fixed_shape(), self.fill, self.dtype)

  def empty(self) -> np.ndarray:
    """Zero examples (a dimension that varies gets size 0)."""
    return np.zeros((0,) + self._fixed_shape(), self.dtype)

  def _fixed_shape(self) -> tuple[int, ...]:
    return tuple(d or 0 for d in self.shape)


@dataclasses.dataclass(frozen=True, eq=False)
class Schema:
  """A dataset's layout and fields, in the order of `LAYOUTS[layout]`.

  Attributes:
    layout: a key of `LAYOUTS`.
    fields: {name: Field}, exactly the names of the layout.
  """

  layout: str
  fields: Mapping[str, Field]

  def __post_init__(self):
    if tuple(self.fields) != LAYOUTS[self.layout]:
      raise ValueError(
          f'layout {self.layout} has fields {LAYOUTS[self.layout]}, not'
          f' {tuple(self.fields)}'
      )

  @property
  def input_field(self) -> str:
    """The first image-like field: 'image', 'source' or 'a'."""
    return LAYOUTS[self.layout][0]

  @property
  def modality(self) -> str:
    """'images' (uint8 inputs) or 'points' (float inputs)."""
    dtype = self.fields[self.input_field].dtype
    return 'images' if dtype == np.uint8 else 'points'

  @property
  def stored_keys(self) -> list[str]:
    """The tfds features that hold the fields."""
    return [f.key for f in self.fields.values() if f.key is not None]

  def describe(self) -> dict[str, dict[str, Any]]:
    """{name: {'dtype': 'uint8', 'shape': (H, W, C)}}, for `dataset_info`."""
    return {
        name: {'dtype': f.dtype.name, 'shape': tuple(f.shape)}
        for name, f in self.fields.items()
    }

  def example(self, record: Mapping[str, Any]) -> dict[str, Any]:
    """A decoded tfds record as {field: value}."""
    return {
        name: f.example(record[f.key]) if f.key is not None
        else f.dtype.type(f.fill)
        for name, f in self.fields.items()
    }

  def columns(self, stored: Mapping[str, np.ndarray],
              n: int) -> dict[str, np.ndarray]:
    """Stacked stored features ({key: [n, ...]}) as {field: [n, ...]}."""
    return {
        name: f.normalize(stored[f.key]) if f.key is not None else f.filled(n)
        for name, f in self.fields.items()
    }

  def stack(self, examples: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Examples from `example` as {field: [n, ...]}."""
    return {
        name: np.array([e[name] for e in examples], dtype=f.dtype)
        for name, f in self.fields.items()
    }

  def empty(self) -> dict[str, np.ndarray]:
    """Zero examples of every field (varying dimensions get size 0)."""
    return {name: f.empty() for name, f in self.fields.items()}


def stored_schema(layout: str, features: Mapping[str, Any]) -> Schema:
  """The schema of a builder whose features are exactly its fields.

  Args:
    layout: a key of `LAYOUTS`.
    features: the builder's `tfds.features.FeaturesDict` (fixed-shape
      `Tensor`s named like the layout's fields).

  Returns:
    A Schema reading every field from the feature of the same name.
  """
  fields = {}
  for name in LAYOUTS[layout]:
    feature = features[name]
    fields[name] = Field(np.dtype(feature.np_dtype), tuple(feature.shape), name)
  return Schema(layout, fields)


def shard_bounds(n: int, index: int, count: int) -> tuple[int, int]:
  """Rows [start, stop) of shard `index` when n rows are cut into `count`.

  The shards are contiguous and in order, and their sizes differ by at most
  one: the first n % count shards hold one row more. This equals
  `np.array_split(np.arange(n), count)[index]`, so shard 0 is always the
  largest, ceil(n / count) rows (what evaluation pads every shard to).

  Args:
    n: rows in the whole split, ≥ 0.
    index: which shard, 0 ≤ index < count.
    count: number of shards, ≥ 1 (more shards than rows leaves some empty).

  Returns:
    (start, stop), with stop - start the shard's size.
  """
  def is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)

  if not is_int(count) or count < 1:
    raise DataError(f'shard count must be an integer ≥ 1, got {count!r}')
  if not is_int(index) or not 0 <= index < count:
    raise DataError(
        f'shard index must be an integer in [0, {count}), got {index!r}')
  if not is_int(n) or n < 0:
    raise DataError(f'cannot shard {n!r} rows')
  size, extra = divmod(int(n), int(count))
  start = int(index) * size + min(int(index), extra)
  return start, start + size + (int(index) < extra)
