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
"""

_installed = False


def install() -> bool:
  """Registers the lowerings (once); False when this JAX lacks the internals used."""
  global _installed
  if _installed:
    return True
  try:
    from jax._src.interpreters import mlir  # pylint: disable=import-outside-toplevel
    from jax._src.random import threefry2x32  # pylint: disable=import-outside-toplevel
    rule = threefry2x32._threefry2x32_lowering_rule  # pylint: disable=protected-access
    mlir.register_lowering(threefry2x32.threefry2x32_p, rule, platform="cpu")
  except (ImportError, AttributeError):  # internals moved: JAX's own lowering stays
    return False
  _installed = True
  return True
