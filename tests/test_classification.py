"""The classification step family (the metrics' domain classifier)."""

import jax
import jax.numpy as jnp
import numpy as np

from conftest import load_config
from genlab import experiment
from genlab.steps.classification import random_affine, random_shift


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


def _disk(size=21, radius=6.0):
  yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
  return jnp.asarray((np.hypot(yy, xx) <= radius).astype(np.float32))[None, :, :, None]


def test_random_affine_rotates_about_the_centre():
  disk = jnp.tile(_disk(), (8, 1, 1, 1))
  # Any rotation maps a centred disk to itself, up to bilinear rounding at the rim.
  rotated = np.asarray(random_affine(jax.random.key(0), disk, 180.0, 0.0, 0.0))[..., 0]
  yy, xx = np.mgrid[:21, :21] - 10
  r = np.hypot(yy, xx)
  np.testing.assert_allclose(rotated[:, r < 4.5], 1.0, atol=1e-4)
  np.testing.assert_allclose(rotated[:, r > 7.5], 0.0, atol=1e-4)
  np.testing.assert_allclose(rotated.sum((1, 2)), float(disk[0].sum()), rtol=0.03)
  # An off-centre dot moves, each image by its own angle, and keeps its distance.
  dot = jnp.zeros((16, 21, 21, 1)).at[:, 10, 16, 0].set(1.0)
  moved = np.asarray(random_affine(jax.random.key(1), dot, 90.0, 0.0, 0.0))[..., 0]
  centres = np.array([np.average(np.argwhere(m > 0), axis=0, weights=m[m > 0]) for m in moved])
  np.testing.assert_allclose(np.hypot(*(centres - 10).T), 6.0, atol=0.3)
  assert len({tuple(np.round(c, 1)) for c in centres}) >= 12  # its own angle each


def test_random_affine_scales_each_axis_and_is_off_at_zero():
  disk = jnp.tile(_disk(41, 8.0), (32, 1, 1, 1))
  scaled = np.asarray(random_affine(jax.random.key(2), disk, 0.0, 0.25, 0.0))[..., 0]
  heights = (scaled > 0.5).any(axis=2).sum(1)
  widths = (scaled > 0.5).any(axis=1).sum(1)
  # 17 px across, scaled by 1 ± 0.25 per axis independently: 12.75 .. 21.25.
  assert heights.min() >= 12 and heights.max() <= 22 and widths.min() >= 12
  assert len(set(zip(heights, widths))) > 8  # per image and per axis
  assert random_affine(jax.random.key(0), disk, 0.0, 0.0, 0.0) is disk


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


def test_warp_fields_reach_the_train_step():
  def first_loss(**warp):
    config = load_config("classifier", "smoke")
    with config.unlocked():
      config.augment.update(warp)
    exp = experiment.build(config)
    batch = {k: v[:32] for k, v in exp.train.items()}
    _, metrics = jax.jit(exp.fns.train_step)(exp.init_state(), batch, jax.random.key(1))
    return float(metrics["loss"])

  plain = first_loss()
  assert first_loss(rotate=0.0, scale=0.0, shear=0.0) == plain  # off: the same draws
  assert first_loss(rotate=30.0, scale=0.3, shear=0.3) != plain
