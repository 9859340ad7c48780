"""Two-domain toy sets made from the 8x8 digits, for image-to-image models.

Domain A is a digit as in the 'digits' dataset; domain B is the same kind of
digit under `transform`, a colour inversion (255 - x: white strokes on black
become black strokes on white).

Why inversion: it is exact and lossless in uint8, it is its own inverse (so
the A->B and B->A maps of a CycleGAN are the same function and cycle
consistency can be met exactly), and it is a per-pixel affine map, so even a
1x1 convolution can represent it: a tiny image-to-image net must be able to
learn it, which makes a failure to learn it a bug rather than a capacity
question. The two domains also differ at a glance (mean brightness), so a
discriminator has a clear signal.

* `paired` (Pix2Pix): row i holds a digit and its own transform.
* `unpaired` (CycleGAN): row i holds digit j as `a` and the transform of a
  different digit k of the same split as `b`. k is a fixed derangement of j
  (no digit is ever paired with its own transform). The pairs (a[i], b[i]) are
  therefore the same in every epoch (shuffling permutes rows, it does not
  re-pair them). For a toy that is fine: a CycleGAN never looks at which b
  shares a row with which a, and no row is a matching pair.

Both sets use the digits' own train/test split, so a classifier trained on
digits' train split has never seen their test digits.
"""

from __future__ import annotations

import numpy as np

from genlab.data.embedded import _splitmix64  # pylint: disable=protected-access

# Seeds of the unpaired sets' partner permutations: fixed forever, since they
# define the dataset.
PARTNER_SEEDS = {'train': 0, 'test': 1}


def transform(images: np.ndarray) -> np.ndarray:
  """Domain A -> domain B (and back): the colour inversion 255 - x.

  Args:
    images: uint8 array of any shape, values 0..255.

  Returns:
    uint8 array of the same shape.
  """
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise TypeError(f'transform needs uint8 images, got {images.dtype}')
  return np.uint8(255) - images


def partners(n: int, seed: int) -> np.ndarray:
  """A fixed permutation of 0..n-1 without fixed points.

  Rows are visited in a hash-random order and each row's partner is the next
  row in that order (cyclically): one n-cycle, so partner[i] != i for every i.
  Uses the same fixed integer hash as the embedded splits, not np.random,
  whose streams NumPy does not promise to keep.

  Args:
    n: number of rows, ≥ 2.
    seed: selects a different, equally fixed, permutation.

  Returns:
    int64 [n]: partner[i] is the row whose digit is paired with row i.
  """
  if n < 2:
    raise ValueError(f'need at least 2 rows to pair each with another, got {n}')
  keys = _splitmix64(np.arange(n, dtype=np.uint64)
                     ^ _splitmix64(np.array([seed], dtype=np.uint64))[0])
  order = np.argsort(keys, kind='stable')
  partner = np.empty(n, dtype=np.int64)
  partner[order] = np.roll(order, -1)
  return partner


def paired(images: np.ndarray, labels: np.ndarray, rows: np.ndarray):
  """Yields (row, example) of the paired set for the given digit rows.

  Args:
    images: uint8 [N, H, W, 1] digits.
    labels: int64 [N].
    rows: the rows of one split.

  Yields:
    (row, {'source': digit, 'target': transform(digit), 'label': int64}).
  """
  for i in rows:
    yield int(i), {
        'source': images[i],
        'target': transform(images[i]),
        'label': np.int64(labels[i]),
    }


def unpaired(images: np.ndarray, labels: np.ndarray, rows: np.ndarray,
             seed: int):
  """Yields (row, example) of the unpaired set for the given digit rows.

  Args:
    images: uint8 [N, H, W, 1] digits.
    labels: int64 [N].
    rows: the rows of one split; b is drawn from the same rows.
    seed: the `partners` seed of this split.

  Yields:
    (row, {'a': digit, 'a_label': its label, 'b': transform of the partner
    digit, 'b_label': the partner's label}).
  """
  rows = np.asarray(rows)
  partner = rows[partners(len(rows), seed)]
  for i, j in zip(rows, partner):
    yield int(i), {
        'a': images[i],
        'a_label': np.int64(labels[i]),
        'b': transform(images[j]),
        'b_label': np.int64(labels[j]),
    }
