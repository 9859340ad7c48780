"""A history pool of generated images (Shrivastava et al. 2017; CycleGAN's 50 images).

A discriminator that only sees the newest fakes can chase G's latest trick and forget
older ones; showing it a mix of old and new fakes damps that oscillation. The pool is
data in the train state (a player's collections), so a resumed run continues with the
same images:

  {'images': [size, H, W, C] float32, 'count': int32 images stored so far (≤ size)}.

`query` follows the reference algorithm for a batch at once: while the pool fills, each
fake is stored and shown; once full, each fake is, with probability ½, swapped for a
random stored image (which D sees instead, the fake taking its place), else shown as is.
Swapped slots are distinct within a batch and only ever hold images stored before it.
"""

import jax
import jax.numpy as jnp

from genlab.errors import UserError


def init(size: int, image_shape) -> dict:
  """An empty pool of `size` images of `image_shape` (H, W, C)."""
  return {"images": jnp.zeros((size, *image_shape), jnp.float32),
          "count": jnp.zeros((), jnp.int32)}


def query(pool: dict, fakes: jax.Array, rng: jax.Array, swap_probability: float = 0.5):
  """(the images D sees [B, ...], the updated pool) for a batch of fakes."""
  size, batch = pool["images"].shape[0], fakes.shape[0]
  if batch > size:
    raise UserError(f"a batch of {batch} fakes does not fit an image pool of {size}")
  images, count = pool["images"], pool["count"]
  i = jnp.arange(batch)
  free = size - count  # fakes [0, free) of this batch fill the pool
  filling = i < free
  r_order, r_coin = jax.random.split(rng)
  # Slots stored before this batch, in random order (the rest sort last).
  keys = jnp.where(jnp.arange(size) < count, jax.random.uniform(r_order, (size,)), 2.0)
  order = jnp.argsort(keys)
  # The k-th fake past the free slots takes the k-th random stored slot: distinct slots.
  slot = order[jnp.clip(i - free, 0, size - 1)]
  swap = ~filling & (jax.random.uniform(r_coin, (batch,)) < swap_probability)
  shown = jnp.where(swap.reshape(-1, *[1] * (fakes.ndim - 1)), images[slot], fakes)
  write = jnp.where(filling, count + i, jnp.where(swap, slot, size))  # size: dropped
  new = {"images": images.at[write].set(fakes.astype(jnp.float32), mode="drop"),
         "count": jnp.minimum(count + batch, size).astype(jnp.int32)}
  return shown, new
