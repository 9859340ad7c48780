"""grain's global shuffle order, computed for a whole epoch at once in numpy.

`grain.MapDataset.range(n).shuffle(seed).repeat()` maps stream position p to example
`index_shuffle(p % n, max_index=n - 1, seed=seed + p // n, rounds=4)`: a 4-round Simon
cipher over a block of at least 16 bits, cycle-walked until the value is ≤ max_index.
grain evaluates it one index at a time in C++ behind a Python call, about 7 µs each
(measured: 1.5 ms per batch of 128, 28 ms per 4,000-example epoch), which is more than
a small model's whole train step. Here the same cipher runs on every index of an epoch
in one vectorized pass (about 2 ms for 4,000), so a batch costs one slice and one
fancy-index per field.

The order is grain's, bit for bit (tests/test_train.py compares them), so runs
keep the data order they had when the pipeline called grain per element.
"""

import math

import numpy as np

_MASK32 = 0xFFFFFFFF
_MIN_BLOCK_BITS = 16


def _seed_seq(seed: int, n: int) -> list[int]:
  """std::seed_seq{seed}.generate(out, out + n): the C++ standard's algorithm."""
  out = [0x8B8B8B8B] * n
  s = 1
  t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
  p = (n - t) // 2
  q = p + t
  m = max(s + 1, n)
  mix = lambda x: x ^ (x >> 27)
  for k in range(m):
    r1 = (1664525 * mix(out[k % n] ^ out[(k + p) % n] ^ out[(k - 1) % n])) & _MASK32
    if k == 0:
      r2 = r1 + s
    elif k <= s:
      r2 = r1 + k % n + (seed & _MASK32)
    else:
      r2 = r1 + k % n
    r2 &= _MASK32
    out[(k + p) % n] = (out[(k + p) % n] + r1) & _MASK32
    out[(k + q) % n] = (out[(k + q) % n] + r2) & _MASK32
    out[k % n] = r2
  for k in range(m, m + n):
    r3 = (1566083941 * mix((out[k % n] + out[(k + p) % n] + out[(k - 1) % n]) & _MASK32)) & _MASK32
    r4 = (r3 - k % n) & _MASK32
    out[(k + p) % n] ^= r3
    out[(k + q) % n] ^= r4
    out[k % n] = r4
  return out


def _block_bits(max_index: int) -> int:
  bits = math.ceil(math.log2(max_index))
  return max(bits + bits % 2, _MIN_BLOCK_BITS)


def _simon(values: np.ndarray, keys: list[int], word: int) -> np.ndarray:
  mask = np.uint64((1 << word) - 1)
  rotl = lambda x, r: ((x << np.uint64(r)) | (x >> np.uint64(word - r))) & mask
  f = lambda x: (rotl(x, 1) & rotl(x, 8)) ^ rotl(x, 2)
  left, right = (values >> np.uint64(word)) & mask, values & mask
  for k1, k2 in zip(keys[0::2], keys[1::2]):
    left = left ^ f(right) ^ (np.uint64(k1) & mask)
    right = right ^ f(left) ^ (np.uint64(k2) & mask)
  return (left << np.uint64(word)) | right


def permutation(n: int, seed: int, rounds: int = 4) -> np.ndarray:
  """[n] int64: position k of the epoch holds `index_shuffle(k, n - 1, seed, rounds)`."""
  if n == 1:
    return np.zeros(1, np.int64)
  keys = _seed_seq(seed % 2**32, rounds)
  word = _block_bits(n - 1) // 2
  # The cipher of the whole block (< 4n values, at least 2**16), then cycle walking as
  # gathers: re-encrypt the values that fell outside [0, n).
  cipher = _simon(np.arange(1 << (2 * word), dtype=np.uint64), keys, word).astype(np.int64)
  out = cipher[:n].copy()
  pending = np.flatnonzero(out >= n)
  while pending.size:
    out[pending] = cipher[out[pending]]
    pending = pending[out[pending] >= n]
  return out
