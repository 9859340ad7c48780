"""The history pool of generated images (CycleGAN's D): size, swap probability, and that
the pool lives in the checkpointed train state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlab.errors import UserError
from genlab.steps import image_pool

SHAPE = (2, 2, 1)


def _fakes(start: int, n: int) -> jax.Array:
  """n distinct images; image k is filled with the value start + k."""
  return jnp.broadcast_to(jnp.arange(start, start + n, dtype=jnp.float32)[:, None, None, None],
                          (n, *SHAPE))


def _ids(images) -> np.ndarray:
  return np.asarray(images[:, 0, 0, 0]).astype(int)


def test_pool_fills_then_holds_its_size():
  pool = image_pool.init(5, SHAPE)
  shown, pool = image_pool.query(pool, _fakes(0, 3), jax.random.key(0))
  np.testing.assert_array_equal(_ids(shown), [0, 1, 2])  # filling: fakes shown as is
  assert int(pool["count"]) == 3
  np.testing.assert_array_equal(_ids(pool["images"][:3]), [0, 1, 2])
  _, pool = image_pool.query(pool, _fakes(3, 2), jax.random.key(1))  # full: 0..4
  for step in range(1, 30):
    before = set(_ids(pool["images"]))
    batch = set(range(10 * step, 10 * step + 3))
    shown, pool = image_pool.query(pool, _fakes(10 * step, 3), jax.random.key(step))
    assert pool["images"].shape == (5, *SHAPE) and int(pool["count"]) == 5
    assert len(set(_ids(pool["images"]))) == 5  # no image stored twice or lost
    # A shown image is this batch's fake or one that was stored before it.
    assert set(_ids(shown)) <= batch | before


def test_swapped_images_are_old_fakes_and_leave_the_pool():
  pool = image_pool.init(4, SHAPE)
  _, pool = image_pool.query(pool, _fakes(0, 4), jax.random.key(0))  # full: 0..3
  shown, new = image_pool.query(pool, _fakes(100, 4), jax.random.key(1))
  ids, before, after = _ids(shown), set(range(4)), set(_ids(new["images"]))
  swapped = [k for k in ids if k < 100]
  assert set(swapped) <= before and len(set(swapped)) == len(swapped)
  # Each swapped-out image gave its slot to the fake shown in its place.
  assert after == (before - set(swapped)) | {100 + i for i, k in enumerate(ids) if k < 100}


def test_replacement_probability_is_one_half():
  pool = image_pool.init(50, SHAPE)
  _, pool = image_pool.query(pool, _fakes(0, 50), jax.random.key(0))
  from_pool = 0
  query = jax.jit(image_pool.query)
  for step in range(1, 101):
    shown, pool = query(pool, _fakes(1000 * step, 32), jax.random.key(step))
    from_pool += int(np.sum(_ids(shown) < 1000 * step))
  # 3,200 Bernoulli(½) draws: the mean is within 0.05 of ½ (about 5.7 σ).
  assert abs(from_pool / 3200 - 0.5) < 0.05


def test_a_partly_full_pool_swaps_only_stored_images():
  pool = image_pool.init(6, SHAPE)
  _, pool = image_pool.query(pool, _fakes(0, 4), jax.random.key(0))  # 0..3 stored
  for seed in range(20):
    shown, new = image_pool.query(pool, _fakes(100, 4), jax.random.key(seed))
    ids = _ids(shown)
    np.testing.assert_array_equal(ids[:2], [100, 101])  # they fill the two free slots
    assert all(k in (102, 103) or k in range(4) for k in ids[2:])
    assert int(new["count"]) == 6 and len(set(_ids(new["images"]))) == 6


def test_a_batch_larger_than_the_pool_is_refused():
  with pytest.raises(UserError, match="pool of 4"):
    image_pool.query(image_pool.init(4, SHAPE), _fakes(0, 5), jax.random.key(0))
