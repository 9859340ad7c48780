"""Running a per-example eval function over a whole split."""

import jax
import jax.numpy as jnp
import numpy as np

from genlab import sharding
from genlab.data import pipeline
from genlab.steps.base import to_unit_float


def evaluate_split(eval_fn, state, split: dict, batch_size: int, rng: jax.Array,
                   mesh) -> dict[str, np.ndarray]:
  """Concatenates `eval_fn(state, batch, rng_i)` over every example of a split.

  Batches have one fixed size (the last is padded and trimmed), so `eval_fn`
  compiles once; batch i uses `fold_in(rng, i)`, so results do not depend on
  when the evaluation runs. In a multi-process run `split` is this process's shard
  and `batch_size` the global batch: every process runs as many batches as the
  largest shard needs (the others pad), the outputs are gathered, and every process
  gets the whole split's values in the order of the shards.

  Returns:
    {name: per-example values [N]}.
  """
  # Rounded up to split over the devices: padded rows are dropped, so any size scores alike.
  local = sharding.local_batch_size(sharding.round_up(batch_size, mesh), mesh,
                                    "data.eval_batch_size")
  n_local = pipeline.num_examples(split)
  count = jax.process_count()
  sizes = [n_local] if count == 1 else [
      int(x) for x in sharding.gather(np.asarray([n_local]))]
  num_batches = -(-max(sizes) // local)
  padded = {k: np.concatenate([v, np.repeat(v[-1:], num_batches * local - n_local, 0)])
            for k, v in split.items()}
  parts: dict[str, list] = {}
  for i, (batch, _) in enumerate(pipeline.eval_batches(padded, local)):
    out = eval_fn(state, sharding.put_local_batch(batch, mesh), jax.random.fold_in(rng, i))
    for k, v in sharding.gather(out).items():
      parts.setdefault(k, []).append(np.asarray(v).reshape(count, local, *v.shape[1:]))
  # [batches, processes, local] -> each process's rows in order, its padding dropped.
  return {k: np.concatenate([np.concatenate([b[p] for b in v])[:sizes[p]]
                             for p in range(count)])
          for k, v in parts.items()}


def apply_to_images(fn, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
  """`fn` on [0, 1] float batches of uint8 `images`, concatenated on the host."""
  jitted = jax.jit(fn)
  return np.concatenate([np.asarray(jitted(to_unit_float(jnp.asarray(images[i:i + batch_size]))))
                         for i in range(0, len(images), batch_size)])


def means(per_example: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
  """{prefix/name: mean} over per-example values."""
  return {f"{prefix}/{k}": float(np.mean(v)) for k, v in per_example.items()}
