"""Image-to-image sets derived from mnist5k and the 8x8 digits, for translation.

Unlike the toy sets of genlab.data.two_domain (a colour inversion, exact and
learnable by a 1x1 convolution), these are translations a small net has to
work for, while still being derived offline from data that ships with
packages, deterministically, so that every machine prepares the same bytes:

* `sketch2digit` (paired): A is the digit's one-pixel skeleton (`skeleton`),
  B the digit. Drawing strokes of a plausible width, with their grey
  antialiasing, around a centre line is the edges->photo task of Pix2Pix at
  digit scale, and it is ambiguous: the skeleton keeps where the pen went,
  not how wide it wrote, so L1 alone averages the widths into a blur.
  (`outline`, the ink's boundary, keeps the width and so nearly fixes B; it
  was version 1 of the set, where L1 had too little to average away.)
* `lowres2digit` (paired): A is the digit at a quarter of the resolution
  (`low_resolution`), shown at full size, B the digit: 4x super-resolution.
  A keeps 49 numbers of B's 784, so B is not a function of A and a model
  must invent plausible detail.
* `mnist2sklearn` (unpaired): domain a is MNIST, domain b the 8x8 UCI digits
  put in a 28x28 frame the way MNIST frames its digits (`mnist_frame`). The
  domains share the content (digit classes, frame, centring) and differ in
  style (blocky, blurred 8x8 scans against antialiased 28x28 pen strokes),
  the setting CycleGAN is for.
* `sklearn28` (labelled): domain b of `mnist2sklearn` on its own, the
  framed 8x8 digits with their labels, in the 8x8 set's split and order, so
  that a classifier of the target domain can be trained (CycleGAN's
  evaluation scores translations a->b with one).

The paired sets are keyed and split exactly like mnist5k (so B of record k is
mnist5k's image of record k), and a model trained on mnist5k's train split has
seen none of their test digits. In `mnist2sklearn` and `sklearn28` the framed
digits keep the 8x8 set's own split for the same reason, so each split's b
digits are exactly `sklearn28`'s images of that split.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from genlab.data.embedded import _splitmix64  # pylint: disable=protected-access

# A pixel is ink from here up: MNIST's own midpoint, so the outline follows
# the visible stroke and not its faint antialiased rim.
INK_THRESHOLD = 128
# The 4-neighbour cross, not the 3x3 square: eroding with it keeps a pixel
# out of the outline unless it touches background edge-on, so the outline is
# one pixel wide (8-connected) instead of thickening at diagonal strokes.
_CROSS = ndimage.generate_binary_structure(2, 1)
LOWRES_FACTOR = 4
FRAME = 28
# MNIST fits each digit into a 20x20 box and puts its centre of mass at
# (14, 14) of the 28x28 frame (pixel-index coordinates; mnist5k's mean centre
# of mass is (13.99, 14.00)), not at the geometric centre 13.5.
BOX = 20
CENTRE = 14.0
# Seeds of the order in which mnist2sklearn's rows take their b digits: fixed
# forever, since they define the dataset.
B_ORDER_SEEDS = {'train': 0, 'test': 1}


def _check_uint8(images: np.ndarray) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 1:
    raise TypeError('need uint8 images [N, H, W, 1], got'
                    f' {images.dtype} {images.shape}')
  return images


def outline(images: np.ndarray) -> np.ndarray:
  """The inner boundary of each digit's ink: ink pixels next to background.

  Args:
    images: uint8 [N, H, W, 1].

  Returns:
    uint8 [N, H, W, 1] in {0, 255}: ink (>= INK_THRESHOLD) minus its binary
    erosion, so it never holds a stroke's interior; a stroke at most two
    pixels wide has no interior and is its own outline.
  """
  ink = _check_uint8(images) >= INK_THRESHOLD
  # Size 1 along N and C: each image is eroded on its own, in one call.
  interior = ndimage.binary_erosion(ink, structure=_CROSS[None, :, :, None])
  return np.where(ink & ~interior, 255, 0).astype(np.uint8)


def _neighbours(ink: np.ndarray) -> list[np.ndarray]:
  """P2..P9 of every pixel (north, then clockwise) of zero-padded [N, H+2, W+2]."""
  h, w = ink.shape[1] - 2, ink.shape[2] - 2
  return [ink[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
          for dy, dx in ((-1, 0), (-1, 1), (0, 1), (1, 1),
                         (1, 0), (1, -1), (0, -1), (-1, -1))]


def skeleton(images: np.ndarray) -> np.ndarray:
  """The one-pixel centre line of each digit's ink (Zhang & Suen 1984 thinning).

  Each pass peels, in two half-steps (south-east, then north-west), every
  boundary pixel whose removal keeps its 8-neighbourhood connected (exactly
  one background-to-ink transition around it) and that is not an end point
  (2..6 inked neighbours), until nothing changes. All images thin at once.

  Args:
    images: uint8 [N, H, W, 1].

  Returns:
    uint8 [N, H, W, 1] in {0, 255}, a subset of the ink (>= INK_THRESHOLD)
    with the same 8-connected pieces, one pixel wide.
  """
  ink = np.pad(_check_uint8(images)[..., 0] >= INK_THRESHOLD,
               ((0, 0), (1, 1), (1, 1)))
  core = ink[:, 1:-1, 1:-1]  # a view: peeling it updates `ink`
  changed = True
  while changed:
    changed = False
    for first in (True, False):
      p = _neighbours(ink)
      count = sum(q.astype(np.int8) for q in p)
      transitions = sum((~p[k] & p[(k + 1) % 8]).astype(np.int8)
                        for k in range(8))
      p2, _, p4, _, p6, _, p8, _ = p
      if first:  # south-east boundary (and north-west corner) pixels
        side = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
      else:
        side = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
      peel = core & (count >= 2) & (count <= 6) & (transitions == 1) & side
      if peel.any():
        core &= ~peel
        changed = True
  return np.where(core, 255, 0).astype(np.uint8)[..., None]


def low_resolution(images: np.ndarray,
                   factor: int = LOWRES_FACTOR) -> np.ndarray:
  """Each digit averaged over factor x factor blocks, shown at full size.

  Nearest-neighbour repetition rather than a smooth upsampling keeps A an
  honest picture of what it holds (one value per block); the model, not the
  data, does the interpolation.

  Args:
    images: uint8 [N, H, W, 1], H and W multiples of `factor`.
    factor: block side.

  Returns:
    uint8 [N, H, W, 1], constant on every block, the block mean rounded
    (half to even).
  """
  images = _check_uint8(images)
  n, h, w, _ = images.shape
  if h % factor or w % factor:
    raise ValueError(f'{h}x{w} images do not split into {factor}x{factor}'
                     ' blocks')
  blocks = images.reshape(n, h // factor, factor, w // factor, factor, 1)
  means = np.round(blocks.mean(axis=(2, 4), dtype=np.float64))
  small = means.astype(np.uint8)
  return np.repeat(np.repeat(small, factor, axis=1), factor, axis=2)


def mnist_frame(images: np.ndarray) -> np.ndarray:
  """Small digits framed like MNIST: fitted into BOX x BOX, centred by mass.

  Each digit is cropped to its ink, scaled (bilinear) so that its longer side
  is BOX pixels, aspect ratio kept, and placed in a FRAME x FRAME black frame
  with its centre of mass as close to (CENTRE, CENTRE) as a whole-pixel shift
  gets it; a shift that would push ink out of the frame is clamped instead.
  Cropping first matters because MNIST fits the digit, not its scan: an 8x8
  '1' is 8 pixels tall but only 2-3 wide.

  Args:
    images: uint8 [N, h, w, 1] digits, each with some ink, h, w <= BOX.

  Returns:
    uint8 [N, FRAME, FRAME, 1].
  """
  images = _check_uint8(images)
  out = np.zeros((len(images), FRAME, FRAME, 1), np.uint8)
  for k, image in enumerate(images[..., 0]):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    if rows.size == 0:
      raise ValueError(f'digit {k} is blank; there is nothing to centre')
    ink = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float64)
    scale = BOX / max(ink.shape)
    # Order 1: cubic splines overshoot on the 8x8 digits' hard edges, and the
    # ringing would be a style no MNIST digit has.
    big = ndimage.zoom(ink, scale, order=1)
    big = np.round(np.clip(big, 0, 255)).astype(np.uint8)
    h, w = big.shape
    cy, cx = ndimage.center_of_mass(big.astype(np.float64))
    top = int(np.clip(np.round(CENTRE - cy), 0, FRAME - h))
    left = int(np.clip(np.round(CENTRE - cx), 0, FRAME - w))
    out[k, top:top + h, left:left + w, 0] = big
  return out


def b_order(n: int, seed: int) -> np.ndarray:
  """A fixed hash-random permutation of 0..n-1.

  The same fixed integer hash as the embedded splits and
  two_domain.partners, not np.random, whose streams NumPy does not promise
  to keep.

  Args:
    n: number of b rows, >= 1.
    seed: selects a different, equally fixed, permutation.

  Returns:
    int64 [n].
  """
  if n < 1:
    raise ValueError(f'need at least one b row, got {n}')
  keys = _splitmix64(np.arange(n, dtype=np.uint64)
                     ^ _splitmix64(np.array([seed], dtype=np.uint64))[0])
  return np.argsort(keys, kind='stable').astype(np.int64)


def paired(sources: np.ndarray, targets: np.ndarray, labels: np.ndarray,
           rows: np.ndarray):
  """Yields (row, example) of a paired set for the given rows.

  Args:
    sources: uint8 [N, H, W, 1], A of every row.
    targets: uint8 [N, H, W, 1], B of every row.
    labels: int64 [N].
    rows: the rows of one split. They are also the record keys, which fixes
      the records' order: tfds orders a split by a hash of its keys, so these
      sets come in mnist5k's order.

  Yields:
    (row, {'source': A, 'target': B, 'label': int64}).
  """
  for i in rows:
    yield int(i), {
        'source': sources[i],
        'target': targets[i],
        'label': np.int64(labels[i]),
    }


def unpaired(a_images: np.ndarray, a_labels: np.ndarray, a_rows: np.ndarray,
             b_images: np.ndarray, b_labels: np.ndarray, b_rows: np.ndarray,
             seed: int):
  """Yields (row, example) of an unpaired set: one record per a row.

  The domains differ in size, so the i-th a row (in `a_rows` order) takes
  b row `b_rows[b_order(len(b_rows), seed)[i % len(b_rows)]]`: every b digit
  of the split is used, each floor or ceil of len(a_rows) / len(b_rows)
  times. Which b shares a record with which a is arbitrary and the same in
  every epoch; an unpaired model never uses it (the labels are there for
  evaluation only), and nothing in it is a matching pair.

  Args:
    a_images: uint8 [Na, H, W, 1], domain a.
    a_labels: int64 [Na].
    a_rows: the a rows of one split; also the record keys (mnist5k's order).
    b_images: uint8 [Nb, H, W, 1], domain b, the same H and W.
    b_labels: int64 [Nb].
    b_rows: the b rows of the same split.
    seed: the `b_order` seed of this split.

  Yields:
    (row, {'a': image, 'a_label': int64, 'b': image, 'b_label': int64}).
  """
  b_rows = np.asarray(b_rows)
  order = b_rows[b_order(len(b_rows), seed)]
  for i, row in enumerate(a_rows):
    j = order[i % len(order)]
    yield int(row), {
        'a': a_images[row],
        'a_label': np.int64(a_labels[row]),
        'b': b_images[j],
        'b_label': np.int64(b_labels[j]),
    }
