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
  when the evaluation runs.

  Returns:
    {name: per-example values [N]}.
  """
  parts: dict[str, list] = {}
  for i, (batch, n_valid) in enumerate(pipeline.eval_batches(split, batch_size)):
    out = eval_fn(state, sharding.put_batch(batch, mesh), jax.random.fold_in(rng, i))
    for k, v in jax.device_get(out).items():
      parts.setdefault(k, []).append(np.asarray(v)[:n_valid])
  return {k: np.concatenate(v) for k, v in parts.items()}


def apply_to_images(fn, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
  """`fn` on [0, 1] float batches of uint8 `images`, concatenated on the host."""
  jitted = jax.jit(fn)
  return np.concatenate([np.asarray(jitted(to_unit_float(jnp.asarray(images[i:i + batch_size]))))
                         for i in range(0, len(images), batch_size)])


def means(per_example: dict[str, np.ndarray], prefix: str) -> dict[str, float]:
  """{prefix/name: mean} over per-example values."""
  return {f"{prefix}/{k}": float(np.mean(v)) for k, v in per_example.items()}
