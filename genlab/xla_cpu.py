"""Faster XLA:CPU lowerings, installed when genlab is imported. Each computes exactly
what JAX's own does (the same bits), so no result changes.

* Threefry-2x32 (every `jax.random` draw): JAX lowers it on CPU as a rolled 5-iteration
  while loop, to compile faster. XLA:CPU runs each iteration as its own dispatch
  and cannot fuse across them, so a large draw (the MLP VAE's dynamic binarization,
  128×784 uniforms a step) costs more than the network's matmuls around it. The
  unrolled lowering, which JAX uses on GPU and TPU, is one fused elementwise kernel:
  the MLP VAE step at batch 128 went from 5.15 to 4.40 ms, at the same compile time
  (`python -m experiments.benchmark --config=experiments/configs/vae.py
  --config.data.batch_size=128 --loop_steps=0`, 2026-12-03).

  Only for draws of at least UNROLLED_MIN_SIZE numbers. Below that the loop costs no
  more at run time (a jitted draw of 1,024 uniforms: 20 µs unrolled, 16 µs rolled; of
  4,096: 20 and 54 µs), while every unrolled draw adds its 20 rounds to the program
  that XLA then has to compile: SAGAN's init, with a power-iteration vector per layer,
  compiled in 8.2 s with every draw unrolled and in 4.2 s with the small ones rolled
  (smoke size, -O0; the train step 6.3 → 5.6 s; 2026-12-03).
"""

import math

UNROLLED_MIN_SIZE = 2048

_installed = False


def install() -> bool:
  """Registers the lowerings (once); False when this JAX lacks the internals used."""
  global _installed
  if _installed:
    return True
  try:
    from jax._src.interpreters import mlir  # pylint: disable=import-outside-toplevel
    from jax._src.random import threefry2x32  # pylint: disable=import-outside-toplevel
    unrolled = threefry2x32._threefry2x32_lowering_rule  # pylint: disable=protected-access
    rolled = threefry2x32._threefry2x32_cpu_lowering_rule  # pylint: disable=protected-access
  except (ImportError, AttributeError):  # internals moved: JAX's own lowering stays
    return False

  def rule(ctx, *args):
    shape = ctx.avals_out[0].shape
    # A symbolic dimension (shape polymorphism) counts as large: the fast-running form.
    small = all(isinstance(d, int) for d in shape) and math.prod(shape) < UNROLLED_MIN_SIZE
    return (rolled if small else unrolled)(ctx, *args)

  mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")
  _installed = True
  return True
