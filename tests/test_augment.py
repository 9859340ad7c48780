"""DiffAugment policies (genlab.nn.augment) and their use in the adversarial step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import presets
from genlab import families, models
from genlab.nn import augment
from genlab.registry import UnknownNameError

B, H, W = 32, 28, 28


def _images(seed=0, c=1):
  # Distinct positive values, so a shifted copy can be matched exactly.
  return jax.random.uniform(jax.random.key(seed), (B, H, W, c), minval=0.1, maxval=1.0)


def _shift(img, dy, dx):
  """img moved by (dy, dx) with zero fill, in numpy."""
  out = np.zeros_like(img)
  src = img[max(0, -dy):H - max(0, dy), max(0, -dx):W - max(0, dx)]
  out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
  return out


def test_translation_is_a_zero_filled_shift_of_at_most_an_eighth():
  x = np.asarray(_images())
  y = np.asarray(augment.translate(jax.random.key(1), jnp.asarray(x)))
  limit = round(H * augment.TRANSLATION_RATIO)
  shifts = []
  for i in range(B):
    found = [(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)
             if np.array_equal(y[i], _shift(x[i], dy, dx))]
    assert len(found) == 1, i
    shifts.append(found[0])
  assert len(set(shifts)) > B // 4  # per-example draws, not one shift for the batch


def test_cutout_zeroes_one_square_of_half_the_size_per_image():
  x = jnp.ones((B, H, W, 2))
  y = np.asarray(augment.cutout(jax.random.key(2), x))
  side = round(H * augment.CUTOUT_RATIO)
  full = 0
  for i in range(B):
    assert np.array_equal(y[i, ..., 0], y[i, ..., 1])  # the same square in every channel
    rows, cols = np.nonzero(y[i, ..., 0] == 0)
    assert len(rows) > 0
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert height <= side and width <= side and len(rows) == height * width  # a rectangle
    full += len(rows) == side * side
  assert 0 < full < B  # whole squares inside, and some clipped at the border


def test_brightness_adds_one_offset_per_image():
  x = _images()
  d = np.asarray(augment.brightness(jax.random.key(3), x) - x)
  per_image = d.reshape(B, -1)
  np.testing.assert_allclose(per_image, per_image[:, :1].repeat(H * W, axis=1), atol=1e-6)
  assert np.all(np.abs(per_image[:, 0]) < 0.5) and np.std(per_image[:, 0]) > 0.1


def test_policy_composes_passes_gradients_and_fails_clearly():
  x = _images()
  np.testing.assert_array_equal(augment.make("")(jax.random.key(0), x), x)
  both = augment.make("translation, cutout")
  y = both(jax.random.key(4), x)
  assert y.shape == x.shape and not np.allclose(y, x)
  # The gradient of a sum is 1 on every pixel that survived the shift and the cutout.
  grad = jax.grad(lambda v: both(jax.random.key(4), v).sum())(x)
  assert np.array_equal(np.asarray(grad).sum(), np.count_nonzero(np.asarray(y)))
  with pytest.raises(UnknownNameError, match="unknown D augmentation 'flip'; known: brightness"):
    augment.make("translation,flip")
  with pytest.raises(ValueError, match="needs images .* gan.augment=''"):
    both(jax.random.key(0), jnp.ones((B, 2)))


@pytest.mark.slow
def test_adversarial_step_augments_what_d_sees():
  rng = np.random.default_rng(0)
  batch = {"image": jnp.asarray(rng.uniform(size=(B, H, W, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, B))}
  info = {"image_shape": (H, W, 1), "modality": "images", "num_classes": 10}

  def one_step(policy):
    c = presets.gan()  # the MLP GAN on images: small to compile
    c.model.latent_size, c.model.g_hidden, c.model.d_hidden = 4, (16,), (16,)
    c.data.batch_size = B
    c.gan.augment = policy
    fns = families.make_fns(c, models.build(c.model, info), info)
    state = jax.jit(fns.init)(jax.random.key(1), batch)
    new_state, metrics = jax.jit(fns.train_step)(state, batch, jax.random.key(0))
    return state, new_state, jax.device_get(metrics)

  _, _, plain = one_step("")
  state, new_state, augmented = one_step("translation,cutout")
  for key in ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm"):
    assert np.isfinite(augmented[key]), key
  assert augmented["d_real"] != plain["d_real"] and augmented["g_loss"] != plain["g_loss"]
  assert augmented["g_grad_norm"] > 0  # G's gradient flows through the augmentation
  assert any(not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(state.params["g"]), jax.tree.leaves(new_state.params["g"])))
