"""The input pipeline: grain over in-memory splits, addressed by step, prefetched.

The embedded splits are a few MB, so they are held in RAM and batches are gathered
with one fancy-index per batch instead of per-example reads. The order is a pure
function of (seed, step): batch i of the run is `dataset[i]`, which is how a
resumed run continues at the exact position in its epoch.
"""

import queue
import threading
from typing import Callable, Iterator

import grain
import numpy as np


def train_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                  seed: int) -> grain.MapDataset:
  """An infinite, random-access dataset of training batches.

  The example stream is a fresh permutation per epoch (grain reseeds every
  repeat); batches are consecutive slices of that stream.

  Args:
    images: uint8 [N, H, W, C].
    labels: int [N].
    batch_size: examples per batch (must be ≤ N).
    seed: the shuffle seed.
  Returns:
    A grain MapDataset whose item i is {'image': [B, H, W, C], 'label': [B]}.
  """
  if batch_size > len(images):
    raise ValueError(f"batch_size {batch_size} exceeds the {len(images)} training examples")
  stream = grain.MapDataset.range(len(images)).shuffle(seed=seed).repeat()
  return stream.batch(batch_size, drop_remainder=True).map(
      lambda idx: {"image": images[idx], "label": labels[idx]})


def eval_batches(images: np.ndarray, labels: np.ndarray,
                 batch_size: int) -> Iterator[tuple[dict, int]]:
  """Fixed-size batches over a whole split, the last one padded.

  Yields:
    (batch, n_valid): pad rows repeat the last example and must be dropped.
  """
  for start in range(0, len(images), batch_size):
    idx = np.arange(start, min(start + batch_size, len(images)))
    n_valid = len(idx)
    idx = np.concatenate([idx, np.full(batch_size - n_valid, idx[-1])])
    yield {"image": images[idx], "label": labels[idx]}, n_valid


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
