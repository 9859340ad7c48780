"""genlab.xla_cpu: the Threefry lowerings (unrolled for large draws, JAX's rolled loop for
small ones) give JAX's bits exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlab import xla_cpu

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry_reference(key: np.ndarray, counts: np.ndarray) -> np.ndarray:
  """Threefry-2x32, 20 rounds (Salmon et al. 2011), in numpy uint32 arithmetic."""
  rotl = lambda v, r: (v << np.uint32(r)) | (v >> np.uint32(32 - r))
  k0, k1 = np.uint32(key[0]), np.uint32(key[1])
  ks = (k0, k1, k0 ^ k1 ^ np.uint32(0x1BD11BDA))
  x0, x1 = counts[0] + ks[0], counts[1] + ks[1]
  for block in range(5):
    for r in _ROTATIONS[block % 2]:
      x0 = x0 + x1
      x1 = rotl(x1, r) ^ x0
    x0 = x0 + ks[(block + 1) % 3]
    x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
  return np.stack([x0, x1])


def test_installed_and_bits_match_the_reference():
  assert xla_cpu.install()  # genlab's import already did; idempotent
  rng = np.random.default_rng(0)
  key = rng.integers(0, 2**32, 2, dtype=np.uint32)
  counts = rng.integers(0, 2**32, (2, 1000), dtype=np.uint32)
  # The primitive genlab relowers (jax._src.random.threefry2x32), compiled for CPU.
  from jax._src.random import threefry2x32  # pylint: disable=import-outside-toplevel
  got = jax.jit(lambda k, c: jnp.stack(threefry2x32.threefry2x32_p.bind(k[0], k[1], c[0], c[1])))(
      jnp.asarray(key), jnp.asarray(counts))
  with np.errstate(over="ignore"):
    want = _threefry_reference(key, counts)
  np.testing.assert_array_equal(np.asarray(got), want)


def test_jitted_and_eager_draws_agree():
  key = jax.random.key(42)
  a = jax.random.uniform(key, (5,))
  b = jax.jit(lambda k: jax.random.uniform(k, (5,)))(key)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _lowered(shape) -> str:
  return jax.jit(lambda k: jax.random.uniform(k, shape)).lower(jax.random.key(0)).as_text()


def test_large_draws_compile_without_a_loop_and_small_ones_with_it():
  # The rolled lowering is a while loop that XLA:CPU dispatches once per iteration;
  # small draws keep it, so that a program of many small draws compiles fast.
  assert "while" not in _lowered((128, 784))
  assert "while" not in _lowered((xla_cpu.UNROLLED_MIN_SIZE,))
  assert "while" in _lowered((xla_cpu.UNROLLED_MIN_SIZE - 1,))


@pytest.mark.parametrize("size,rolled", [(3, True), (xla_cpu.UNROLLED_MIN_SIZE, False)])
def test_both_forms_give_the_reference_bits(size, rolled):
  rng = np.random.default_rng(size)
  key = rng.integers(0, 2**32, 2, dtype=np.uint32)
  counts = rng.integers(0, 2**32, (2, size), dtype=np.uint32)
  from jax._src.random import threefry2x32  # pylint: disable=import-outside-toplevel
  fn = jax.jit(lambda k, c: jnp.stack(threefry2x32.threefry2x32_p.bind(k[0], k[1], c[0], c[1])))
  key, counts = jnp.asarray(key), jnp.asarray(counts)
  assert ("while" in fn.lower(key, counts).as_text()) == rolled
  got = fn(key, counts)
  with np.errstate(over="ignore"):
    key, counts = np.asarray(key), np.asarray(counts)
    np.testing.assert_array_equal(np.asarray(got), _threefry_reference(key, counts))
