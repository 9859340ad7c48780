"""The input pipeline: grain's shuffle order over in-memory splits, addressed by step, prefetched.

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

import numpy as np

from genlab.data import index_shuffle
from genlab.errors import UserError


def num_examples(split: dict) -> int:
  """Examples in a split of typed fields (every field has the same length)."""
  sizes = {len(v) for v in split.values()}
  if len(sizes) != 1:
    raise ValueError(f"the fields of a split differ in length: {sorted(sizes)}")
  return sizes.pop()


class TrainBatches:
  """An infinite, random-access sequence of training batches: item i is batch i.

  The example stream is grain's `MapDataset.range(n).shuffle(seed).repeat()`: a fresh
  permutation per epoch (seed + epoch), and batch i is the stream's slice
  [i·B, (i+1)·B), so it may straddle two epochs. The permutation of an epoch is
  computed whole (genlab.data.index_shuffle) and cached, and a batch is one fancy-index
  per field; grain's per-element lookup cost 1.5 ms per batch of 128, more than the
  train step of a small model.
  """

  def __init__(self, split: dict, batch_size: int, seed: int):
    self._split = split
    self._n = num_examples(split)
    if batch_size > self._n:
      raise UserError(f"batch_size {batch_size} exceeds the {self._n} training examples")
    self._batch_size = batch_size
    self._seed = seed
    self._epochs: dict[int, np.ndarray] = {}  # the last two epochs' permutations

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._epochs:
      if len(self._epochs) >= 2:
        del self._epochs[min(self._epochs)]
      self._epochs[epoch] = index_shuffle.permutation(self._n, self._seed + epoch)
    return self._epochs[epoch]

  def indices(self, i: int) -> np.ndarray:
    """[B] example indices of batch i."""
    if i < 0:
      raise IndexError(f"batch {i}: batches are addressed from 0")
    first, last = i * self._batch_size, (i + 1) * self._batch_size - 1
    epoch, pos = divmod(first, self._n)
    if last // self._n == epoch:
      return self._permutation(epoch)[pos:pos + self._batch_size]
    # Straddles two epochs (batch_size ≤ n): the tail of one, the head of the next.
    head = self._permutation(epoch)[pos:]
    return np.concatenate([head, self._permutation(epoch + 1)[:self._batch_size - len(head)]])

  def __getitem__(self, i: int) -> dict:
    idx = self.indices(i)
    return {k: v[idx] for k, v in self._split.items()}


def train_batches(split: dict, batch_size: int, seed: int) -> TrainBatches:
  """Training batches of a split of typed fields: item i is {field: [B, ...]}.

  Args:
    split: {field: [N, ...]}, e.g. uint8 images [N, H, W, C] and int labels [N].
    batch_size: examples per batch (must be ≤ N).
    seed: the shuffle seed.
  """
  return TrainBatches(split, batch_size, seed)


class Chunks:
  """Item j stacks batches jK, ..., jK + K − 1 of `batches` on a new leading axis: the
  input of one call that fuses K train steps (`train.steps_per_call`), so each step sees
  the batch it would see alone."""

  def __init__(self, batches, k: int):
    self._batches, self._k = batches, k

  def __getitem__(self, j: int) -> dict:
    items = [self._batches[j * self._k + i] for i in range(self._k)]
    return {key: np.stack([item[key] for item in items]) for key in items[0]}


def calls(batches, k: int):
  """The inputs of calls of k fused steps: `batches` itself when k = 1, else Chunks."""
  return batches if k == 1 else Chunks(batches, k)


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

  def __init__(self, dataset, start: int, put: Callable = lambda b: b,
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
