"""Autoencoder modules, blocks and the name registries' errors."""

import functools
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import load_config
from genlab import families, models, optim
from genlab.models.autoencoders import ConvAutoencoder, MLPAutoencoder
from genlab.nn import activation
from genlab.nn.blocks import depth_to_space
from genlab.registry import Registry, UnknownNameError


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.key(seed), shape)


# ------------------------------------------------------------------ MLP AE


def test_mlp_autoencoder_shapes_and_params():
  model = MLPAutoencoder(image_shape=(28, 28, 1), hidden=(32, 16), code_size=6)
  x = _images((3, 28, 28, 1))
  params = model.init(jax.random.key(0), x)["params"]
  logits, code = model.apply({"params": params}, x)
  assert logits.shape == x.shape
  assert code.shape == (3, 6)
  assert model.num_layers == 3
  dims = [784, 32, 16, 6]
  for i in range(3):
    assert params[f"enc_{i}_kernel"].shape == (dims[i], dims[i + 1])
    assert params[f"dec_{i}_kernel"].shape == (dims[i + 1], dims[i])
    assert params[f"dec_{i}_bias"].shape == (dims[i],)
  # encode / decode are the two halves of __call__.
  np.testing.assert_allclose(model.apply({"params": params}, x, method="encode"), code,
                             rtol=1e-6)
  np.testing.assert_allclose(model.apply({"params": params}, code, method="decode"), logits,
                             rtol=1e-6)


def test_tied_autoencoder_decodes_with_transposed_encoder_kernel():
  model = MLPAutoencoder(image_shape=(6, 5, 1), hidden=(), code_size=7, tied=True,
                         code_activation="sigmoid")
  x = _images((4, 6, 5, 1))
  params = model.init(jax.random.key(0), x)["params"]
  assert not [k for k in params if k.startswith("dec_") and k.endswith("kernel")]
  assert sorted(params) == ["dec_0_bias", "enc_0_bias", "enc_0_kernel"]
  # Non-zero biases so that they are part of the check.
  params = dict(params)
  params["enc_0_bias"] = jax.random.normal(jax.random.key(1), params["enc_0_bias"].shape)
  params["dec_0_bias"] = jax.random.normal(jax.random.key(2), params["dec_0_bias"].shape)
  logits, code = model.apply({"params": params}, x)
  w = np.asarray(params["enc_0_kernel"], np.float64)
  flat = np.asarray(x, np.float64).reshape(4, -1)
  h = 1 / (1 + np.exp(-(flat @ w + np.asarray(params["enc_0_bias"]))))
  np.testing.assert_allclose(np.asarray(code), h, rtol=1e-5)
  by_hand = np.asarray(code, np.float64) @ w.T + np.asarray(params["dec_0_bias"])
  np.testing.assert_allclose(np.asarray(logits).reshape(4, -1), by_hand, rtol=1e-5, atol=1e-6)


def test_tied_weights_share_gradient_from_both_halves():
  model = MLPAutoencoder(image_shape=(4, 4, 1), hidden=(), code_size=3, tied=True)
  x = _images((5, 4, 4, 1))
  params = model.init(jax.random.key(0), x)["params"]

  def loss(p, detach_decoder):
    if detach_decoder:  # the decoder sees a constant copy of W: encoder path only
      code = model.apply({"params": p}, x, method="encode")
      frozen = dict(p, enc_0_kernel=jax.lax.stop_gradient(p["enc_0_kernel"]))
      logits = model.apply({"params": frozen}, code, method="decode")
    else:
      logits, _ = model.apply({"params": p}, x)
    return jnp.sum(jnp.square(jax.nn.sigmoid(logits) - x))

  full = jax.grad(loss)(params, False)["enc_0_kernel"]
  enc_only = jax.grad(loss)(params, True)["enc_0_kernel"]
  # With tying, the decoder's use of Wᵀ contributes to W's gradient.
  assert float(jnp.max(jnp.abs(full - enc_only))) > 1e-6


def _layerwise_grads(k: int):
  model = MLPAutoencoder(image_shape=(6, 6, 1), hidden=(12, 8), code_size=4, activation="tanh")
  x = _images((8, 6, 6, 1))
  params = model.init(jax.random.key(0), x)["params"]

  def loss(p):
    pred, target, _ = model.apply({"params": p}, x, k, method="layerwise")
    return jnp.mean(jnp.square(pred - target))

  return model, jax.jit(jax.grad(loss))(params)


def _norm(tree) -> float:
  return float(sum(jnp.sum(jnp.abs(v)) for v in jax.tree.leaves(tree)))


@pytest.mark.parametrize("k", [0, 1, 2])
def test_layerwise_freezes_lower_layers(k):
  model, grads = _layerwise_grads(k)
  for i in range(model.num_layers):
    enc = _norm([grads[f"enc_{i}_kernel"], grads[f"enc_{i}_bias"]])
    dec = _norm([grads[f"dec_{i}_kernel"], grads[f"dec_{i}_bias"]])
    if i == k:
      assert enc > 0 and dec > 0, f"layer {k} must train"
    else:
      # Layers below k are frozen; layers above k are not part of the k-th shallow AE.
      assert enc == 0 and dec == 0, f"layer {i} got a gradient in stage {k}"


def test_layerwise_shapes_and_targets():
  model = MLPAutoencoder(image_shape=(6, 6, 1), hidden=(12, 8), code_size=4)
  x = _images((8, 6, 6, 1))
  variables = model.init(jax.random.key(0), x)
  pred, target, code = model.apply(variables, x, 0, method="layerwise")
  assert pred.shape == x.shape and code.shape == (8, 12)
  np.testing.assert_array_equal(np.asarray(target), np.asarray(x))
  pred, target, code = model.apply(variables, x, 1, method="layerwise")
  assert pred.shape == target.shape == (8, 12) and code.shape == (8, 8)
  # The last shallow AE's code is the full model's code.
  _, _, code = model.apply(variables, x, 2, method="layerwise")
  np.testing.assert_allclose(code, model.apply(variables, x, method="encode"), rtol=1e-6)


# ----------------------------------------------------------------- Conv AE


@pytest.mark.parametrize("image_shape,channels", [
    ((28, 28, 1), (8, 16)),
    ((28, 28, 1), (8, 16, 16)),  # 28 -> 14 -> 7 -> 4 comes back as 32: cropped
    ((8, 8, 1), (8, 16)),
])
def test_conv_autoencoder_shapes(image_shape, channels):
  model = ConvAutoencoder(image_shape=image_shape, channels=channels, code_size=5)
  x = _images((2, *image_shape))
  # Abstract evaluation: shapes without paying for an XLA compile of the convs.
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  logits, code = jax.eval_shape(model.apply, variables, x)
  assert logits.shape == x.shape
  assert code.shape == (2, 5)
  encoded = jax.eval_shape(functools.partial(model.apply, method="encode"), variables, x)
  assert encoded.shape == (2, 5)
  bottom = variables["params"]["from_code"]["kernel"].shape[1]
  f = 2 ** len(channels)
  assert bottom == -(-image_shape[0] // f) * -(-image_shape[1] // f) * channels[-1]


def test_depth_to_space_matches_reference_loop():
  b, h, w, c, f = 2, 3, 4, 3, 2
  x = np.arange(b * h * w * c * f * f, dtype=np.float32).reshape(b, h, w, c * f * f)
  out = np.asarray(depth_to_space(jnp.asarray(x), f))
  assert out.shape == (b, h * f, w * f, c)
  ref = np.zeros_like(out)
  for bb, hh, ww, i, j, cc in itertools.product(*map(range, (b, h, w, f, f, c))):
    ref[bb, f * hh + i, f * ww + j, cc] = x[bb, hh, ww, (i * f + j) * c + cc]
  np.testing.assert_array_equal(out, ref)


# ------------------------------------------------------------ name errors


def test_registry_unknown_name_is_one_line_and_lists_known():
  reg = Registry("widget")
  reg.register("a", 1)
  with pytest.raises(ValueError, match="registered twice"):
    reg.register("a", 2)
  with pytest.raises(UnknownNameError) as e:
    reg.get("b")
  assert "'b'" in str(e.value) and "known: a" in str(e.value) and "\n" not in str(e.value)


def test_unknown_model_name():
  cfg = ml_collections.ConfigDict(dict(name="vae_typo"))
  with pytest.raises(UnknownNameError, match="vae_typo") as e:
    models.build(cfg, {"image_shape": (28, 28, 1)})
  assert "mlp_ae" in str(e.value) and "conv_ae" in str(e.value)


def test_unknown_activation():
  with pytest.raises(ValueError, match="swishy") as e:
    activation("swishy")
  assert "relu" in str(e.value)
  model = MLPAutoencoder(image_shape=(4, 4, 1), hidden=(3,), code_size=2, activation="swishy")
  with pytest.raises(ValueError, match="swishy"):
    model.init(jax.random.key(0), jnp.zeros((1, 4, 4, 1)))


_INFO_AE = {"image_shape": (28, 28, 1), "num_classes": 10, "modality": "images"}


def _ae_model(config):
  return models.build(config.model, _INFO_AE)


def test_unknown_step_family():
  config = load_config("ae", "smoke")
  config.step_family = "diffusion_typo"
  with pytest.raises(UnknownNameError, match="diffusion_typo") as e:
    families.make_fns(config, _ae_model(config), _INFO_AE)
  assert "reconstruction" in str(e.value)


def test_unknown_reconstruction_loss():
  config = load_config("ae", "smoke")
  config.loss.reconstruction = "l3"
  with pytest.raises(UnknownNameError, match="'l3'"):
    families.make_fns(config, _ae_model(config), _INFO_AE)


def test_unknown_optimizer_and_schedule():
  config = load_config("ae", "smoke")
  config.optim.name = "adamm"
  with pytest.raises(UnknownNameError, match="adamm") as e:
    optim.make_optimizer(config.optim, 10)
  assert "adam" in str(e.value) and "sgd" in str(e.value)
  config = load_config("ae", "smoke")
  config.optim.schedule = "cosin"
  with pytest.raises(ValueError, match="cosin"):
    optim.make_optimizer(config.optim, 10)


def test_layerwise_needs_mlp():
  config = load_config("conv_ae", "smoke")
  config.train.layerwise_steps = 3
  with pytest.raises(ValueError, match="conv_ae"):
    families.make_fns(config, _ae_model(config), _INFO_AE)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
@pytest.mark.parametrize("schedule", ["constant", "cosine", "warmup_cosine"])
def test_optimizers_step(name, schedule):
  config = load_config("ae", "smoke")
  config.optim.name, config.optim.schedule = name, schedule
  config.optim.warmup_steps = 2
  config.optim.grad_clip = 1.0
  config.optim.weight_decay = 0.0
  tx = optim.make_optimizer(config.optim, 10)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  grads = {"w": jnp.asarray([100.0, -100.0, 0.0])}
  for _ in range(3):  # past any warm-up, so the learning rate is > 0
    updates, state = tx.update(grads, state, params)
  # A descent step on every coordinate with a gradient, finite after clipping.
  u = np.asarray(updates["w"])
  assert u[0] < 0 < u[1] and np.all(np.isfinite(u))
