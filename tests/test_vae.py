"""The ELBO family: reparameterization, β = 0, IWAE vs ELBO, and a trained smoke model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from genlab import families, models
from genlab.steps import elbo
from genlab.evaluation import vae as vae_eval
from genlab.losses import bce, gaussian_kl
from genlab.models.vae import reparameterize

_INFO = {"image_shape": (8, 8, 1), "num_classes": 10}


def _setup(arg="smoke", **overrides):
  config = load_config("vae", arg)
  with config.unlocked():
    for key, value in overrides.items():
      section, name = key.split(".")
      config[section][name] = value
  model = models.build(config.model, _INFO)
  fns = families.make_fns(config, model, _INFO)
  x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
  batch = {"image": (x * 255).astype(jnp.uint8), "label": jnp.zeros(16, jnp.int32)}
  state = fns.init(jax.random.key(1), batch)
  return config, model, fns, state, batch


def test_reparameterized_sample_has_requested_moments():
  mean = jnp.array([1.5, -2.0, 0.0])
  logvar = jnp.log(jnp.array([0.25, 4.0, 1.0]))
  z = jax.vmap(lambda k: reparameterize(k, mean, logvar))(
      jax.random.split(jax.random.key(0), 200_000))
  np.testing.assert_allclose(z.mean(0), mean, atol=0.02)
  np.testing.assert_allclose(z.var(0), jnp.exp(logvar), rtol=0.02)
  grad = jax.grad(lambda m: reparameterize(jax.random.key(1), m, logvar).sum())(mean)
  np.testing.assert_allclose(grad, jnp.ones(3))  # the sample is differentiable in μ


def test_beta_zero_is_a_stochastic_autoencoder_loss():
  config, model, fns, state, batch = _setup("smoke,beta=0")
  _, metrics = jax.jit(fns.train_step)(state, batch, jax.random.key(2))
  assert float(metrics["beta"]) == 0.0
  assert float(metrics["loss"]) == pytest.approx(float(metrics["rec"]), rel=1e-6)
  # ...and that reconstruction term is the BCE of a decoded posterior sample.
  rng = jax.random.split(jax.random.fold_in(jax.random.key(2), 0))[1]
  x = jax.random.bernoulli(jax.random.split(jax.random.fold_in(jax.random.key(2), 0))[0],
                           batch["image"].astype(jnp.float32) / 255.0).astype(jnp.float32)
  p = {"params": state.params["vae"]}
  mean, logvar = model.apply(p, x, method="encode")
  logits = model.apply(p, reparameterize(rng, mean, logvar), method="decode")
  assert float(jnp.mean(bce(logits, x))) == pytest.approx(float(metrics["rec"]), rel=1e-5)


def test_kl_warmup_ramps_beta():
  config, _, fns, state, batch = _setup("smoke")
  with config.unlocked():
    config.vae.kl_warmup_steps = 10
  assert float(elbo.beta_at(config, 0)) == 0.0
  assert float(elbo.beta_at(config, 5)) == pytest.approx(0.5)
  assert float(elbo.beta_at(config, 50)) == pytest.approx(1.0)


def test_iwae_with_one_sample_is_the_elbo_estimate():
  config, model, fns, state, batch = _setup("smoke")
  x = batch["image"].astype(jnp.float32) / 255.0
  x = (x > 0.5).astype(jnp.float32)
  params = state.params["vae"]
  log_w = vae_eval.make_iwae_log_weights(model, config)
  rng = jax.random.key(3)
  nll_k1 = vae_eval.iwae_nll(log_w, params, x, rng, k=1, chunk=1)
  # By hand with the same ε: −log w = −log p(x|z) − log p(z) + log q(z|x).
  mean, logvar = model.apply({"params": params}, x, method="encode")
  eps = jax.random.normal(jax.random.fold_in(rng, 0), (1, *mean.shape))[0]
  z = mean + jnp.exp(0.5 * logvar) * eps
  rec = bce(model.apply({"params": params}, z, method="decode"), x)
  log_q = -0.5 * jnp.sum(eps**2 + logvar + jnp.log(2 * jnp.pi), -1)
  log_p = -0.5 * jnp.sum(z**2 + jnp.log(2 * jnp.pi), -1)
  np.testing.assert_allclose(nll_k1, rec + log_q - log_p, rtol=1e-4)
  # Averaged over draws, the k = 1 bound is the ELBO (closed-form KL) and k = 200 is tighter.
  many = np.mean([vae_eval.iwae_nll(log_w, params, x, jax.random.key(i), 1, 1)
                  for i in range(300)], 0)
  recs = np.mean([bce(model.apply({"params": params},
                                  reparameterize(jax.random.key(1000 + i), mean, logvar),
                                  method="decode"), x) for i in range(300)], 0)
  elbo = recs + np.asarray(gaussian_kl(mean, logvar))
  np.testing.assert_allclose(many.mean(), elbo.mean(), rtol=0.01)
  tight = vae_eval.iwae_nll(log_w, params, x, jax.random.key(9), k=200, chunk=50)
  assert tight.mean() < many.mean()
