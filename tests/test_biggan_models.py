"""SAGAN / BigGAN networks: spectral norm, self-attention, conditional batch norm, the
ResNet G and D, and BigGAN's orthogonal penalty."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from genlab import models
from genlab.losses.orthogonal import orthogonal_penalty
from genlab.models.biggan import ResNetDiscriminator, ResNetGenerator
from genlab.nn.gan_layers import (SPECTRAL, ConditionalBatchNorm, SelfAttention,
                                  spectral_normalize)


class _NormalizedKernel(nn.Module):
  """Returns its spectrally normalized kernel, so a test can take its SVD."""

  shape: tuple

  @nn.compact
  def __call__(self, train: bool):
    kernel = self.param("kernel", nn.initializers.lecun_normal(), self.shape)
    return spectral_normalize(self, kernel, update=train)


@pytest.mark.parametrize("shape", [(7, 5), (3, 3, 4, 6)])
def test_spectral_norm_power_iteration_reaches_unit_top_singular_value(shape):
  rng = np.random.default_rng(0)
  fan_in, out = int(np.prod(shape[:-1])), shape[-1]
  left, _ = np.linalg.qr(rng.normal(size=(fan_in, out)))
  right, _ = np.linalg.qr(rng.normal(size=(out, out)))
  singular = np.array([3.0, 1.5, 1.0, 0.5, 0.2, 0.1][:out])
  kernel = (left * singular) @ right.T
  layer = _NormalizedKernel(shape)
  variables = layer.init(jax.random.key(0), False)
  variables = {**variables, "params": {"kernel": jnp.asarray(kernel.reshape(shape), jnp.float32)}}
  step = jax.jit(lambda v: layer.apply(v, True, mutable=[SPECTRAL]))

  # Eval mode: the stored estimate is used and nothing changes.
  _, unchanged = layer.apply(variables, False, mutable=[SPECTRAL])
  jax.tree.map(np.testing.assert_array_equal, unchanged[SPECTRAL], variables[SPECTRAL])
  for _ in range(20):  # error shrinks by (σ2/σ1)² = 1/4 per iteration
    normalized, updates = step(variables)
    variables = {**variables, **updates}
  assert not np.allclose(variables[SPECTRAL]["u"], unchanged[SPECTRAL]["u"])
  top = np.linalg.svd(np.asarray(normalized).reshape(fan_in, out), compute_uv=False)[0]
  np.testing.assert_allclose(top, 1.0, rtol=1e-4)
  eval_kernel = layer.apply(variables, False)  # the converged estimate, unchanged
  np.testing.assert_allclose(eval_kernel, kernel.reshape(shape) / 3.0, rtol=1e-3, atol=1e-5)


def test_self_attention_starts_as_identity_and_maps_are_distributions():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  layer = SelfAttention()
  variables = layer.init(jax.random.key(1), x)
  out, state = layer.apply(variables, x, mutable=["intermediates"])
  np.testing.assert_array_equal(out, x)  # γ = 0
  (attention,) = state["intermediates"]["attention"]
  assert attention.shape == (2, 64, 16)  # N_query = 8·8, N_key = 4·4 after the max-pool
  np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-5)
  params = {**variables["params"], "gamma": jnp.asarray(0.5)}
  out = layer.apply({**variables, "params": params}, x)
  assert np.abs(np.asarray(out - x)).max() > 1e-3


def test_conditional_batch_norm_is_batch_norm_plus_a_per_example_affine():
  x = jax.random.normal(jax.random.key(0), (4, 3, 3, 5)) * 2.0 + 1.0
  labels = jnp.array([0, 1, 2, 1])
  cbn, bn = ConditionalBatchNorm(5), nn.BatchNorm(use_running_average=False, momentum=0.9)
  variables = cbn.init(jax.random.key(1), x, jax.nn.one_hot(labels, 3))
  # Each class has its own scale and shift from the start (kernels ±1/sqrt(fan_in)).
  kernel = variables["params"]["cond_gain"]["kernel"]
  assert np.abs(np.asarray(kernel)).max() <= 1 / np.sqrt(3) and np.std(np.asarray(kernel)) > 0.1
  # With the condition's projections at zero it is plain batch norm.
  variables = {**variables, "params": jax.tree.map(jnp.zeros_like, variables["params"])}
  apply = lambda v, y: cbn.apply(v, x, jax.nn.one_hot(y, 3), True, mutable=["batch_stats"])
  out, stats = apply(variables, labels)
  plain, plain_stats = bn.apply(bn.init(jax.random.key(2), x), x, mutable=["batch_stats"])
  np.testing.assert_allclose(out, plain, atol=1e-5)
  jax.tree.map(np.testing.assert_allclose, stats["batch_stats"]["bn"], plain_stats["batch_stats"])

  params = jax.tree.map(lambda p: p + 0.3 * jnp.arange(p.size).reshape(p.shape) / p.size,
                        variables["params"])
  variables = {**variables, "params": params}
  base, _ = apply(variables, labels)
  relabelled, _ = apply(variables, labels.at[0].set(2))
  assert np.abs(np.asarray(base[0] - relabelled[0])).max() > 1e-3
  np.testing.assert_allclose(base[1:], relabelled[1:], atol=1e-6)  # the others keep theirs


def _latents(kind: str, batch: int, latent_size: int = 24, chunks: int = 3):
  z = jax.random.normal(jax.random.key(3), (batch, latent_size))
  return tuple(jnp.split(z, chunks, axis=-1)) if kind.startswith("biggan") else z


# (kind, image_shape): plain = unconditional SAGAN, sagan = one-hot CBNs, biggan =
# hierarchical z with a shared embedding, biggan_uncond = hierarchical without labels.
# Two up blocks (16 px) keep the compiles short; 14 px is center-cropped from 16.
G_CASES = [("plain", (16, 16, 1)), ("sagan", (16, 16, 3)), ("biggan", (16, 16, 1)),
           ("biggan_uncond", (16, 16, 3)), ("sagan", (14, 14, 1))]


@pytest.mark.parametrize("kind,image_shape", G_CASES)
def test_generator_images_in_unit_interval_and_state_updates_only_in_train(kind, image_shape):
  num_classes = 0 if kind in ("plain", "biggan_uncond") else 10
  g = ResNetGenerator(image_shape, latent_size=24, channels=(8, 8), num_classes=num_classes,
                      attention_res=8, hierarchical=kind.startswith("biggan"), embed_size=4)
  z, labels = _latents(kind, 3), (jnp.array([0, 4, 9]) if num_classes else None)
  variables = g.init(jax.random.key(0), z, labels)
  state = {c: v for c, v in variables.items() if c != "params"}
  assert set(state) == {"batch_stats", "spectral"}
  if kind == "biggan":  # class rows start as long as a z chunk (8 of the 24 dimensions)
    rows = np.linalg.norm(variables["params"]["shared_embedding"]["embedding"], axis=-1)
    np.testing.assert_allclose(rows.mean(), np.sqrt(8), rtol=0.25)
  run = jax.jit(lambda z, train: g.apply(variables, z, labels, train, mutable=list(state)),
                static_argnums=1)
  images, eval_state = run(z, False)
  assert images.shape == (3, *image_shape)
  assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
  jax.tree.map(np.testing.assert_array_equal, eval_state, state)
  _, train_state = run(z, True)
  for col in state:
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, train_state[col], state[col])))


def test_hierarchical_generator_rejects_a_wrong_number_of_chunks():
  g = ResNetGenerator((32, 32, 1), latent_size=30, channels=(8, 8, 8), hierarchical=True)
  z = tuple(jnp.split(jnp.zeros((2, 30)), 3, axis=-1))
  with pytest.raises(ValueError, match="4 chunks"):
    jax.eval_shape(g.init, jax.random.key(0), z)


def test_discriminator_logits_and_projection_term():
  d = ResNetDiscriminator(channels=(8, 16), num_classes=5, attention_res=8)
  x = jax.random.uniform(jax.random.key(0), (4, 16, 16, 3))
  labels = jnp.array([0, 1, 2, 3])
  variables = d.init(jax.random.key(1), x, labels)
  logits = jax.jit(lambda y: d.apply(variables, x, y))
  base, swapped = logits(labels), logits(labels[::-1])
  assert base.shape == (4,)
  assert np.all(np.abs(np.asarray(base - swapped)) > 1e-4)  # every label moved
  assert np.all(np.isfinite(base))


def test_generator_and_discriminator_gradients_are_finite_with_a_penalty():
  # One block each (8 px; attention at 8 in G, 4 in D): a second-order gradient compiles slowly.
  g = ResNetGenerator((8, 8, 1), latent_size=12, channels=(8,), num_classes=3,
                      attention_res=8, hierarchical=True, embed_size=4)
  d = ResNetDiscriminator(channels=(8,), num_classes=3, attention_res=4)
  z = tuple(jnp.split(jax.random.normal(jax.random.key(0), (4, 12)), 2, axis=-1))
  labels = jnp.array([0, 1, 2, 0])
  g_vars = g.init(jax.random.key(1), z, labels)
  d_vars = d.init(jax.random.key(2), g.apply(g_vars, z, labels), labels)

  def loss(params):
    fake, _ = g.apply({**g_vars, "params": params["g"]}, z, labels, True,
                      mutable=["batch_stats", "spectral"])
    critic = lambda x: d.apply({**d_vars, "params": params["d"]}, x, labels, True,
                               mutable=[SPECTRAL])[0]
    input_grad = jax.grad(lambda x: jnp.sum(critic(x)))(fake)  # R1-like: D twice
    return (jnp.mean(jax.nn.softplus(-critic(fake))) + jnp.sum(input_grad ** 2)
            + 1e-4 * orthogonal_penalty(params["g"]))

  grads = jax.jit(jax.grad(loss))({"g": g_vars["params"], "d": d_vars["params"]})
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(leaf)) for leaf in leaves)
  assert np.abs(np.asarray(grads["g"]["project"]["kernel"])).max() > 0


def _hand_penalty(kernel: np.ndarray) -> float:
  w = kernel.reshape(-1, kernel.shape[-1])
  return sum(float(w[:, i] @ w[:, j]) ** 2
             for i in range(w.shape[1]) for j in range(w.shape[1]) if i != j)


def test_orthogonal_penalty_zero_for_orthogonal_filters_and_hand_computed_otherwise():
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(18, 4)))
  orthogonal = (q * [1.0, 2.0, 0.5, 3.0]).reshape(3, 3, 2, 4)  # norms are not penalized
  assert float(orthogonal_penalty({"conv": {"kernel": jnp.asarray(orthogonal)}})) < 1e-9
  conv, wide = rng.normal(size=(3, 3, 2, 4)), rng.normal(size=(3, 7))  # wide: fan_in < out
  params = {
      "conv": {"kernel": jnp.asarray(conv), "bias": jnp.ones(4)},
      "project": {"kernel": jnp.asarray(wide)},
      "cbn_0": {"cond_gain": {"kernel": jnp.ones((5, 4))}, "bn": {"scale": jnp.ones(4)}},
      "shared_embedding": {"embedding": jnp.ones((10, 4))},
      "attention": {"gamma": jnp.asarray(1.0)}}
  np.testing.assert_allclose(orthogonal_penalty(params), _hand_penalty(conv) + _hand_penalty(wide),
                             rtol=1e-5)


@pytest.mark.parametrize("name", ["sagan", "biggan"])
def test_registered_builders_make_a_gan_container(name):
  cfg = ml_collections.ConfigDict(dict(
      name=name, latent_size=32, g_channels=(8, 8, 8), d_channels=(8, 8, 8), attention_res=16,
      embed_size=4, conditional=True))
  info = {"image_shape": (32, 32, 3), "num_classes": 10, "modality": "images"}
  model = models.build(cfg, info)
  labels = jnp.arange(2)
  shapes = jax.eval_shape(model.init, jax.random.key(0), _latents(name, 2, 32, 4), labels)
  assert set(shapes["params"]) == {"generator", "discriminator"}
  assert set(shapes[SPECTRAL]) == {"generator", "discriminator"}
  assert ("shared_embedding" in shapes["params"]["generator"]) == (name == "biggan")
