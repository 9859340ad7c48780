"""Traced hyperparameters: the scalars a sweep or population varies (learning rates, β,
loss weights) passed as traced values give the run the config with those values gives,
so vmap over them can train a population in one step (tests/test_population.py runs
one through the loop)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from experiments.configs import presets
from genlab import families, models

POINTS = {"image_shape": (2,), "modality": "points", "num_classes": 25}
IMAGES = {"image_shape": (8, 8, 1), "modality": "images", "num_classes": 10}


def _vae(lr=1e-3, beta=1.0):
  config = load_config("vae", "smoke")
  with config.unlocked():
    config.optim.learning_rate, config.vae.beta = lr, beta
    config.model.hidden = (32,)
  return config


def _run(config, info, batch, steps=3, hparams=None):
  fns = families.make_fns(config, models.build(config.model, info), info)
  state = jax.jit(fns.init)(jax.random.key(0), batch)
  step = jax.jit(functools.partial(fns.train_step, hparams=hparams) if hparams is None
                 else lambda s, b, r: fns.train_step(s, b, r, hparams=hparams))
  for _ in range(steps):
    state, _ = step(state, batch, jax.random.key(1))
  return fns, state


def _batch():
  x = jax.random.uniform(jax.random.key(2), (32, 8, 8, 1))
  return {"image": (x * 255).astype(jnp.uint8), "label": jnp.zeros(32, jnp.int32)}


def _close(a, b, **tol):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(x, y, **tol)


def test_traced_learning_rate_and_beta_equal_the_config_values():
  batch = _batch()
  hp = {"optim.learning_rate": jnp.float32(3e-3), "vae.beta": jnp.float32(0.25)}
  _, traced = _run(_vae(), IMAGES, batch, hparams=hp)
  _, configured = _run(_vae(lr=3e-3, beta=0.25), IMAGES, batch)
  # Equal to the run configured with those values, not to the config's own 1e-3 / 1.0.
  _close(traced.params, configured.params, rtol=2e-5, atol=1e-6)


def test_game_loss_weights_and_player_learning_rates_trace():
  config = presets.gan()
  config.data.name = "grid25"
  config.model.latent_size, config.model.g_hidden, config.model.d_hidden = 4, (16,), (16,)
  config.gan.gp_weight, config.gan.loss = 1.0, "wasserstein"
  points = jax.random.normal(jax.random.key(3), (16, 2))
  batch = {"image": points, "label": jnp.zeros(16, jnp.int32)}
  hp = {"gan.gp_weight": jnp.float32(5.0), "optim.d.learning_rate": jnp.float32(1e-3)}
  _, traced = _run(config, POINTS, batch, steps=2, hparams=hp)
  config.gan.gp_weight, config.optim.d.learning_rate = 5.0, 1e-3
  _, configured = _run(config, POINTS, batch, steps=2)
  _close(traced.params, configured.params, rtol=2e-5, atol=1e-6)


def test_unknown_or_untraceable_hparams_are_refused():
  with pytest.raises(ValueError, match=r"gan\.gp_weight.*traceable: optim.learning_rate"):
    _run(_vae(), IMAGES, _batch(), steps=1, hparams={"gan.gp_weight": 1.0})
