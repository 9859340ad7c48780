"""The classification step family (the metrics' domain classifier)."""

import jax
import jax.numpy as jnp
import numpy as np

from conftest import load_config
from genlab import experiment
from genlab.steps.classification import random_shift


def test_random_shift_translates_each_image_within_bounds():
  x = jnp.zeros((64, 9, 9, 1)).at[:, 4, 4, 0].set(1.0)  # one lit centre pixel each
  shifted = np.asarray(random_shift(jax.random.key(0), x, 2))
  assert shifted.shape == x.shape
  ys, xs = np.nonzero(shifted[..., 0].reshape(64, 9, 9).sum(0))
  assert set(ys) <= set(range(2, 7)) and set(xs) <= set(range(2, 7))
  assert np.all(shifted.reshape(64, -1).sum(1) == 1)  # translated, never lost at ±2
  offsets = {tuple(np.argwhere(s[..., 0])[0]) for s in shifted}
  assert len(offsets) > 5  # per-example offsets, not one shared shift
  np.testing.assert_array_equal(random_shift(jax.random.key(0), x, 0), x)


def test_training_steps_reduce_the_loss_and_eval_is_per_example():
  config = load_config("classifier", "smoke")
  exp = experiment.build(config)
  state = exp.init_state()
  batch = {k: v[:64] for k, v in exp.train.items()}
  step = jax.jit(exp.fns.train_step)
  state, first = step(state, batch, jax.random.key(1))
  for _ in range(30):
    state, metrics = step(state, batch, jax.random.key(1))
  assert metrics["loss"] < 0.5 * first["loss"]
  out = exp.fns.eval_step(state, batch, jax.random.key(2))
  assert out["accuracy"].shape == (64,) and set(np.unique(out["accuracy"])) <= {0.0, 1.0}
