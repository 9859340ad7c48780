"""The input pipeline: grain over in-memory splits, addressed by step, prefetched.

A split is a dict of typed fields ({'image', 'label'}, paired {'source', 'target'},
unpaired {'a', 'b', ...}), each [N, ...]; batches carry every field. Images stay uint8
here and are scaled on the device by the step. The embedded splits are a few MB, so
they are held in RAM and batches are gathered with one fancy-index per batch instead
of per-example reads. The order is a pure function of (seed, step): batch i of the
run is `dataset[i]`, which is how a resumed run continues at the exact position in
its epoch.
"""

import queue
import threading
from typing import Callable, Iterator

import grain
import numpy as np

from genlab.errors import UserError


def num_examples(split: dict) -> int:
  """Examples in a split of typed fields (every field has the same length)."""
  sizes = {len(v) for v in split.values()}
  if len(sizes) != 1:
    raise ValueError(f"the fields of a split differ in length: {sorted(sizes)}")
  return sizes.pop()


def train_batches(split: dict, batch_size: int, seed: int) -> grain.MapDataset:
  """An infinite, random-access dataset of training batches.

  The example stream is a fresh permutation per epoch (grain reseeds every
  repeat); batches are consecutive slices of that stream.

  Args:
    split: {field: [N, ...]}, e.g. uint8 images [N, H, W, C] and int labels [N].
    batch_size: examples per batch (must be ≤ N).
    seed: the shuffle seed.
  Returns:
    A grain MapDataset whose item i is {field: [B, ...]} for every field.
  """
  n = num_examples(split)
  if batch_size > n:
    raise UserError(f"batch_size {batch_size} exceeds the {n} training examples")
  stream = grain.MapDataset.range(n).shuffle(seed=seed).repeat()
  return stream.batch(batch_size, drop_remainder=True).map(
      lambda idx: {k: v[idx] for k, v in split.items()})


def eval_batches(split: dict, batch_size: int) -> Iterator[tuple[dict, int]]:
  """Fixed-size batches over a whole split of typed fields, the last one padded.

  Yields:
    (batch, n_valid): pad rows repeat the last example and must be dropped.
  """
  n = num_examples(split)
  for start in range(0, n, batch_size):
    idx = np.arange(start, min(start + batch_size, n))
    n_valid = len(idx)
    idx = np.concatenate([idx, np.full(batch_size - n_valid, idx[-1])])
    yield {k: v[idx] for k, v in split.items()}, n_valid


class Prefetcher:
  """Reads batches start, start+1, ... in a background thread, `depth` ahead.

  `put` (e.g. a sharded `jax.device_put`) runs in the thread too, so the host
  copy overlaps the device step.
  """

  def __init__(self, dataset: grain.MapDataset, start: int, put: Callable = lambda b: b,
               depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._fill, args=(dataset, start, put), daemon=True)
    self._thread.start()

  def _fill(self, dataset, start, put):
    i = start
    try:
      while not self._stop.is_set():
        item = put(dataset[i])
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        i += 1
    except BaseException as e:  # surfaced in the consumer, not lost in a thread
      self._queue.put(e)

  def __next__(self):
    item = self._queue.get()
    if isinstance(item, BaseException):
      raise item
    return item

  def close(self):
    self._stop.set()
    self._thread.join(timeout=5)
