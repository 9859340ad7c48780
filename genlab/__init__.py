"""genlab: generative models in JAX/Flax on one training loop (README.md)."""

from genlab import xla_cpu as _xla_cpu

_xla_cpu.install()  # same results, faster random draws on CPU (genlab/xla_cpu.py)
