"""The large GANs' real-data configs at their real size: each builds on its catalogue
set (tfds.testing.mock_data serves random records, offline), and its train step compiles
and runs one step with the full networks (ProGAN's last stage). Batch 2: the networks,
not the batch, are what is being checked. The parameter counts are README's."""

import functools

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import load_config
from genlab import experiment
from genlab.state import num_params

# Compiles networks of millions of parameters: `make test-real-size`, not `make test`.
pytestmark = [pytest.mark.slow, pytest.mark.real_size]

CASES = [(name, variant) for name in ("sagan", "biggan", "progan")
         for variant in ("cifar10", "imagenet64")]


@pytest.mark.parametrize("name, variant", CASES)
def test_real_size_config_trains_one_step(name, variant):
  config = load_config(name, variant)
  with config.unlocked():
    config.data.batch_size = 2
  with tfds.testing.mock_data(num_examples=4):
    exp = experiment.build(config)
  stage = exp.fns.stages[-1]
  # Eagerly: op by op is quicker here than compiling the initializer of a big network.
  state = exp.fns.init(exp.rngs()["init"], exp.example_batch(), stage=stage)
  side = {"cifar10": 32, "imagenet64": 64}[variant]
  assert exp.info["image_shape"] == (side, side, 3)
  if name != "progan":
    assert exp.info["num_classes"] == {"cifar10": 10, "imagenet64": 1000}[variant]
  # XLA without its backend optimizations: a fraction of the compile time, the same step.
  step = jax.jit(functools.partial(exp.fns.train_step, stage=stage),
                 compiler_options={"xla_backend_optimization_level": 0})
  new, metrics = step(state, exp.example_batch(), jax.random.key(0))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  for player in ("g", "d"):
    before, after = jax.tree.leaves(state.params[player]), jax.tree.leaves(new.params[player])
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), player
  params = {p: num_params(state.params[p]) for p in ("g", "d")}
  print(f"{name}:{variant} G {params['g']:,} D {params['d']:,}")
  assert min(params.values()) > 4_000_000  # the real widths, not a smoke model
