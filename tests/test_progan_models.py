"""ProGAN networks: equalized layers, pixel norm, minibatch stddev, the fade between
stages in G and D, and params that grow by superset."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genlab.models import progan

CHANNELS, LATENT, SIZE, BATCH = (8, 8, 4, 4), 8, 32, 4


def _generator(num_classes=0):
  return progan.ProGANGenerator(image_shape=(SIZE, SIZE, 3), latent_size=LATENT,
                                channels=CHANNELS, num_classes=num_classes)


def _z(seed=0):
  return jax.random.normal(jax.random.key(seed), (BATCH, LATENT))


def _images(seed=0, size=SIZE):
  return jax.random.uniform(jax.random.key(seed), (BATCH, size, size, 3))


@pytest.fixture(scope="module")
def g_params():
  """G's params at the last stage: by the superset property, they run every stage."""
  return _generator().init(jax.random.key(1), _z(), stage=len(CHANNELS) - 1)["params"]


@pytest.fixture(scope="module")
def d_params():
  d = progan.ProGANDiscriminator(CHANNELS)
  return d.init(jax.random.key(2), _images(), stage=len(CHANNELS) - 1)["params"]


def _shapes(params):
  return {jax.tree_util.keystr(p): leaf.shape
          for p, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


@pytest.mark.parametrize("layer, x", [
    (progan.EqualizedDense(512, gain=math.sqrt(2)), (4096, 256)),
    (progan.EqualizedConv(256, 3, gain=1.0), (16, 8, 8, 64)),
])
def test_equalized_layers_keep_raw_params_unit_normal_and_scale_by_he_constant(layer, x):
  x = jax.random.normal(jax.random.key(0), x)
  params = layer.init(jax.random.key(1), x)["params"]
  kernel, fan_in = params["kernel"], math.prod(params["kernel"].shape[:-1])
  assert abs(float(jnp.std(kernel)) - 1) < 0.02 and abs(float(jnp.mean(kernel))) < 0.02
  np.testing.assert_array_equal(params["bias"], 0)
  # The effective weights: the layer's response to unit inputs, one fan-in unit at a time.
  if isinstance(layer, progan.EqualizedDense):
    effective = layer.apply({"params": params}, jnp.eye(fan_in))
  else:
    deltas = jnp.eye(fan_in).reshape(fan_in, 3, 3, -1)  # one tap of the 3×3×C window each
    effective = layer.apply({"params": params}, deltas)[:, 1, 1]
  np.testing.assert_allclose(jnp.std(effective), layer.gain / math.sqrt(fan_in), rtol=0.03)
  # ... so unit-variance inputs give outputs of std ≈ gain, whatever the fan-in.
  y = layer.apply({"params": params}, x)
  y = y if y.ndim == 2 else y[:, 1:-1, 1:-1]  # interior pixels: no zero padding
  assert abs(float(jnp.std(y)) - layer.gain) < 0.05 * layer.gain


def test_pixel_norm_is_feature_vector_over_its_rms():
  x = jnp.array([[[[3.0, 4.0], [0.0, 0.0]]]])  # one row of two pixels
  np.testing.assert_allclose(progan.pixel_norm(x)[0, 0, 0], [3 / math.sqrt(12.5),
                                                            4 / math.sqrt(12.5)], rtol=1e-6)
  np.testing.assert_array_equal(progan.pixel_norm(x)[0, 0, 1], [0, 0])  # eps: no NaN


def test_minibatch_stddev_appends_group_std_averaged_over_features():
  # Batch 4, groups of 2: example b is in group b mod 2, so groups {0, 2} and {1, 3}.
  x = jnp.array([[0.0, 0.0], [1.0, 1.0], [2.0, 4.0], [1.0, 3.0]]).reshape(4, 1, 1, 2)
  x = jnp.tile(x, (1, 2, 3, 1))  # the same values on a 2×3 map
  out = progan.minibatch_stddev(x, group_size=2)
  assert out.shape == (4, 2, 3, 3)
  np.testing.assert_array_equal(out[..., :2], x)
  # Group {0, 2}: stds (1, 2), mean 1.5. Group {1, 3}: stds (0, 1), mean 0.5.
  expected = jnp.array([1.5, 0.5, 1.5, 0.5])[:, None, None]
  np.testing.assert_allclose(out[..., 2], jnp.broadcast_to(expected, (4, 2, 3)), atol=1e-4)
  # A group larger than the batch shrinks to the batch.
  assert progan.minibatch_stddev(x[:3], group_size=4).shape == (3, 2, 3, 3)
  # A group size that does not divide the batch falls to the largest one that does:
  # 6 = 2 groups of 3, members {b, b + 2, b + 4}: values (0, 2, 4) and (1, 3, 5).
  y = jnp.arange(6.0)[:, None, None, None] * jnp.ones((6, 4, 4, 2))
  np.testing.assert_allclose(progan.minibatch_stddev(y, group_size=4)[:, 0, 0, 2],
                             np.sqrt(8 / 3), rtol=1e-5)


def test_generator_grows_4_to_32_px_in_unit_interval(g_params):
  for stage in range(len(CHANNELS)):
    images = _generator().apply({"params": g_params}, _z(), stage=stage, alpha=0.5)
    size = 4 * 2 ** stage
    assert images.shape == (BATCH, size, size, 3)
    assert float(images.min()) >= 0 and float(images.max()) <= 1


@pytest.mark.parametrize("stage", [1, 3])
def test_generator_fade_starts_at_the_upsampled_previous_stage(g_params, stage):
  g = _generator()
  run = lambda params, stage, alpha: g.apply({"params": params}, _z(), stage=stage,
                                             alpha=alpha)
  previous = run(g_params, stage - 1, 1.0)
  np.testing.assert_allclose(run(g_params, stage, 0.0), progan.upsample2(previous), atol=1e-6)
  # Faded in, the output is the new block's alone: toRGB_{stage−1} no longer matters.
  full = run(g_params, stage, 1.0)
  old_rgb = f"to_rgb_{stage - 1}"
  perturbed = {**g_params, old_rgb: jax.tree.map(lambda w: w + 1.0, g_params[old_rgb])}
  np.testing.assert_array_equal(run(perturbed, stage, 1.0), full)
  assert float(jnp.abs(full - progan.upsample2(previous)).max()) > 1e-3


@pytest.mark.parametrize("stage", [1, 3])
def test_discriminator_fade_starts_at_the_previous_stage_on_downscaled_images(d_params, stage):
  d = progan.ProGANDiscriminator(CHANNELS)
  run = lambda params, x, stage, alpha: d.apply({"params": params}, x, stage=stage,
                                                alpha=alpha)
  x = _images(size=4 * 2 ** stage)
  coarse = progan.downscale(x, stage - 1, 4 * 2 ** stage)
  assert coarse.shape[1] == 2 ** (stage + 1)
  logits = run(d_params, x, stage, 0.0)
  assert logits.shape == (BATCH,)
  np.testing.assert_allclose(logits, run(d_params, coarse, stage - 1, 1.0), rtol=1e-5,
                             atol=1e-5)
  old_rgb = f"from_rgb_{stage - 1}"
  perturbed = {**d_params, old_rgb: jax.tree.map(lambda w: w + 1.0, d_params[old_rgb])}
  np.testing.assert_array_equal(run(perturbed, x, stage, 1.0), run(d_params, x, stage, 1.0))


def test_downscale_averages_to_the_stage_size():
  x = _images()
  np.testing.assert_allclose(progan.downscale(x, 0, SIZE)[:, 0, 0], x[:, :8, :8].mean((1, 2)),
                             rtol=1e-6)
  assert progan.downscale(x, 3, SIZE) is x
  with pytest.raises(ValueError):
    progan.downscale(x, 4, SIZE)


def test_params_grow_by_superset_and_grow_params_keeps_old_values():
  g, z = _generator(), _z()
  params = [g.init(jax.random.key(10 + k), z, stage=k)["params"] for k in range(len(CHANNELS))]
  d = progan.ProGANDiscriminator(CHANNELS, num_classes=5)
  labels = jnp.arange(BATCH) % 5
  d_params = [d.init(jax.random.key(k), _images(size=4 * 2 ** k), labels, stage=k)["params"]
              for k in range(len(CHANNELS))]
  for trees in (params, d_params):
    for old, new in zip(trees, trees[1:]):
      old_shapes, new_shapes = _shapes(old), _shapes(new)
      assert old_shapes.items() < new_shapes.items()
  grown = progan.grow_params(params[1], params[2])
  assert _shapes(grown) == _shapes(params[2])
  for path, leaf in jax.tree_util.tree_flatten_with_path(grown)[0]:
    name = jax.tree_util.keystr(path)
    source = params[1] if name in _shapes(params[1]) else params[2]
    np.testing.assert_array_equal(leaf, _leaf(source, path))
  # The grown G, before its fade starts, draws exactly the old G's images (upsampled).
  np.testing.assert_allclose(
      g.apply({"params": grown}, z, stage=2, alpha=0.0),
      progan.upsample2(g.apply({"params": params[1]}, z, stage=1)), atol=1e-6)
  narrow = progan.ProGANGenerator((SIZE, SIZE, 3), LATENT, (8, 6, 4, 4))
  with pytest.raises(ValueError, match="shape"):
    progan.grow_params(narrow.init(jax.random.key(0), z, stage=1)["params"], params[2])


def _leaf(tree, path):
  for key in path:
    tree = tree[key.key]
  return tree


def test_growing_gan_gradients_are_finite_and_reach_both_fading_branches():
  num_classes, stage = 3, 1  # 4 -> 8 px: the cheapest fade
  gan = progan.GrowingGAN(_generator(num_classes),
                          progan.ProGANDiscriminator(CHANNELS, num_classes=num_classes))
  z, labels = _z(), jnp.arange(BATCH) % num_classes
  params = gan.init(jax.random.key(3), z, labels, stage=stage, alpha=0.5)["params"]

  def loss(params, alpha):
    fake = gan.apply({"params": params}, z, labels, stage=stage, alpha=alpha,
                     method=progan.GrowingGAN.generate)
    real = progan.downscale(_images(), stage, SIZE)
    scores = [gan.apply({"params": params}, x, labels, stage=stage, alpha=alpha,
                        method=progan.GrowingGAN.discriminate) for x in (fake, real)]
    return jnp.mean(jax.nn.softplus(scores[0]) + jax.nn.softplus(-scores[1]))

  # Jitted: one compile is faster than differentiating op by op.
  grads, alpha_grad = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, 0.5)
  assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))
  assert bool(jnp.isfinite(alpha_grad))
  for net, layers in (("generator", ("to_rgb_0", "to_rgb_1", "block_0_dense")),
                      ("discriminator", ("from_rgb_0", "from_rgb_1", "class_embedding"))):
    for layer in layers:
      assert float(optax.global_norm(grads[net][layer])) > 0, (net, layer)
  with pytest.raises(ValueError, match="labels"):
    gan.apply({"params": params}, z, stage=stage)
