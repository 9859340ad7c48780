"""Pix2Pix: the U-Net's skips, the PatchGAN's receptive field, the game's loss weights,
and SSIM's closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from genlab import experiment, families
from genlab.errors import UserError
from genlab.losses import ssim
from genlab.models import pix2pix
from genlab.steps.base import Hparams


# ------------------------------------------------------------------ the U-Net


def _identity_params(params):
  """Every kernel and bias zero, except the output conv, which reads the input skip
  (the last of its input channels) with weight 40 and bias −20."""
  params = jax.tree.map(jnp.zeros_like, params)
  kernel = params["out"]["kernel"]  # [3, 3, C_in, 1]
  params["out"]["kernel"] = kernel.at[1, 1, -1, 0].set(40.0)
  params["out"]["bias"] = params["out"]["bias"] + -20.0
  return params


def test_identity_initialised_unet_passes_its_input_through():
  net = pix2pix.UNetGenerator(channels=(8, 16), dropout=0.5)
  x = (jax.random.uniform(jax.random.key(0), (2, 16, 16, 1)) > 0.5).astype(jnp.float32)
  params = _identity_params(net.init(jax.random.key(1), x)["params"])
  # sigmoid(40x − 20): within 2e-9 of a binary input, at full resolution, through the
  # skip alone (every other path is zero), and with dropout on in training.
  for train in (False, True):
    out = net.apply({"params": params}, x, train, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_allclose(out, x, atol=1e-8)
  # Without the input skip the same net outputs a constant.
  params["out"]["kernel"] = params["out"]["kernel"].at[1, 1, -1, 0].set(0.0)
  out = net.apply({"params": params}, x)
  np.testing.assert_allclose(out, out[0, 0, 0, 0], rtol=1e-6)


def test_unet_skips_carry_every_level():
  """The gradient of one output pixel reaches the input through each skip level."""
  net = pix2pix.UNetGenerator(channels=(8, 16), dropout=0.0)
  x = jax.random.uniform(jax.random.key(0), (1, 16, 16, 1))
  params = net.init(jax.random.key(1), x)["params"]
  out_channels = {k: v["kernel"].shape for k, v in params.items() if k.startswith("up_")}
  # up_1 sees the bottom and the 4×4 encoder output; up_0 adds the 8×8 one.
  assert out_channels["up_1"][-1] == 16 + 16 and out_channels["up_0"][-1] == 8 + 8
  assert params["out"]["kernel"].shape[2] == 8 + 1  # the last decoder level + the input
  with pytest.raises(ValueError, match="divisible by 4"):
    net.init(jax.random.key(1), jnp.zeros((1, 14, 14, 1)))


# ------------------------------------------------------------ the PatchGAN


@pytest.mark.parametrize("n_down", [1, 2])
def test_patchgan_receptive_field_is_measured(n_down):
  # Without instance norm, whose per-image statistics reach every logit.
  d = pix2pix.PatchDiscriminator(features=4, n_down=n_down, norm=False)
  x = jnp.ones((1, 64, 64, 2))
  params = d.init(jax.random.key(0), x)
  logits = d.apply(params, x)
  assert logits.shape == (1, 64 // 2 ** n_down, 64 // 2 ** n_down)
  i = logits.shape[1] // 2
  grad = jax.grad(lambda v: d.apply(params, v)[0, i, i])(
      jax.random.normal(jax.random.key(1), x.shape))
  rows, cols = np.nonzero(np.abs(np.asarray(grad)).sum((0, 3)))
  assert rows.max() - rows.min() + 1 == pix2pix.receptive_field(n_down)
  assert cols.max() - cols.min() + 1 == pix2pix.receptive_field(n_down)


def test_patch_layers_scale_the_papers_70_px_field():
  assert pix2pix.receptive_field(3) == 70
  assert pix2pix.patch_layers(256) == 3  # the paper's 70×70 PatchGAN
  assert pix2pix.receptive_field(pix2pix.patch_layers(128)) == 34
  assert pix2pix.receptive_field(pix2pix.patch_layers(28)) == 16  # the smallest field


# ------------------------------------------------------------ the game


def _game(arg="smoke", **pix):
  config = load_config("pix2pix", arg)
  with config.unlocked():
    config.data.name = "digits_pairs"
    config.model.g_channels, config.model.d_features = (8, 16), 8
    config.pix2pix.update(pix)
  exp = experiment.build(config)
  game = families.GAMES.get("pix2pix")(exp.model, config, exp.info)
  return config, exp, game


def _losses(config, exp, game):
  state = exp.init_state()
  batch = exp.example_batch()
  inputs = {**game.prepare(batch, None), "hp": Hparams(config, None, game.hparams)}
  g = next(p for p in game.players if p.name == "g")
  _, (metrics, _) = g.loss(state.params, {}, inputs, jax.random.key(0), 0)
  return state, metrics


@pytest.mark.parametrize("l1_weight,adv_weight", [(100.0, 1.0), (10.0, 0.5)])
def test_generator_loss_weighs_l1_and_adversarial_terms(l1_weight, adv_weight):
  config, exp, game = _game(l1_weight=l1_weight, adv_weight=adv_weight)
  assert [p.name for p in game.players] == ["d", "g"]
  _, m = _losses(config, exp, game)
  assert m["l1"] > 0 and m["g_adv"] > 0
  np.testing.assert_allclose(m["loss"], l1_weight * m["l1"] + adv_weight * m["g_adv"],
                             rtol=1e-5)


def test_l1_only_is_the_same_unet_without_a_discriminator():
  config, exp, game = _game("l1_only,smoke")
  assert [p.name for p in game.players] == ["g"]
  state, m = _losses(config, exp, game)
  assert set(state.params) == {"g"} and "g_adv" not in m
  np.testing.assert_allclose(m["loss"], config.pix2pix.l1_weight * m["l1"], rtol=1e-6)
  reference = _game()[1].init_state().params["g"]
  assert jax.tree.map(jnp.shape, state.params["g"]) == jax.tree.map(jnp.shape, reference)


@pytest.mark.parametrize("test_dropout", [True, False])
def test_evaluation_draws_dropout_from_its_key_and_scores_the_target(test_dropout):
  _, exp, _ = _game(test_dropout=test_dropout)
  state = exp.init_state()
  batch = {k: jnp.asarray(v[:8]) for k, v in exp.test.items()}
  step = jax.jit(exp.fns.eval_step)
  a, again = step(state, batch, jax.random.key(0)), step(state, batch, jax.random.key(0))
  other = step(state, batch, jax.random.key(1))
  for key in ("l1", "psnr", "ssim", "d_real", "d_fake", "d_loss", "g_adv", "loss"):
    assert a[key].shape == (8,), key
    np.testing.assert_array_equal(a[key], again[key])  # a fixed key: reproducible
  # The paper's test-time dropout: another key, another output; off: the mean network.
  assert np.array_equal(a["l1"], other["l1"]) != test_dropout
  out = exp.fns.translate(state, batch, jax.random.key(0))["output"]
  target = batch["target"].astype(jnp.float32) / 255
  np.testing.assert_allclose(a["l1"], jnp.mean(jnp.abs(out - target), (1, 2, 3)), rtol=1e-5)


def test_a_dataset_without_pairs_is_refused():
  config = load_config("pix2pix", "smoke")
  with config.unlocked():
    config.data.name = "digits_ab"
  with pytest.raises(UserError, match="paired"):
    experiment.build(config)


# ------------------------------------------------------------------ SSIM


def test_ssim_closed_forms():
  x = jax.random.uniform(jax.random.key(0), (3, 16, 16, 2))
  np.testing.assert_allclose(ssim(x, x), 1.0, rtol=1e-5)
  # Constant images a, b: only the luminance term is left, (2ab + C1) / (a² + b² + C1).
  a, b, c1 = 0.3, 0.7, 0.01 ** 2
  got = ssim(jnp.full((1, 12, 12, 1), a), jnp.full((1, 12, 12, 1), b))
  np.testing.assert_allclose(got, (2 * a * b + c1) / (a * a + b * b + c1), rtol=2e-4)
  noisy = [float(ssim(x, x + s * jax.random.normal(jax.random.key(1), x.shape))[0])
           for s in (0.05, 0.1, 0.3)]
  assert noisy[0] > noisy[1] > noisy[2]
