"""Evaluation of the ELBO family: honest likelihoods, active units, latent figures."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from genlab.evaluation import figures
from genlab.evaluation.split import apply_to_images, means
from genlab.state import num_params
from genlab.steps.base import to_unit_float
from genlab.steps.elbo import decoder_mean, neg_log_likelihood


def _log_normal(z, mean, logvar):
  return -0.5 * jnp.sum(jnp.square(z - mean) * jnp.exp(-logvar) + logvar + math.log(2 * math.pi),
                        axis=-1)


def make_iwae_log_weights(model, config):
  """A jitted (params, x, rng, k) -> log w [k, B], log w = log p(x|z)p(z) − log q(z|x)."""

  def log_weights(params, x, rng, k):
    variables = {"params": params}
    mean, logvar = model.apply(variables, x, method="encode")
    eps = jax.random.normal(rng, (k, *mean.shape))
    z = mean + jnp.exp(0.5 * logvar) * eps
    flat = z.reshape(-1, z.shape[-1])
    logits = model.apply(variables, flat, method="decode")
    log_sigma = model.apply(variables, method=lambda m: m.log_sigma)
    x_rep = jnp.broadcast_to(x, (k, *x.shape)).reshape(-1, *x.shape[1:])
    log_px = -neg_log_likelihood(config, logits, x_rep, log_sigma).reshape(k, -1)
    zeros = jnp.zeros_like(mean)
    return log_px + _log_normal(z, zeros, zeros) - _log_normal(z, mean, logvar)

  return jax.jit(log_weights, static_argnums=3)


def iwae_nll(log_weights_fn, params, x: np.ndarray, rng: jax.Array, k: int,
             chunk: int) -> np.ndarray:
  """−log p̂(x) = −(logsumexp_k log w_k − log k) per example, in float64. Shape [B]."""
  parts = [np.asarray(log_weights_fn(params, x, jax.random.fold_in(rng, i), min(chunk, k - s)),
                      np.float64) for i, s in enumerate(range(0, k, chunk))]
  lw = np.concatenate(parts, 0)
  top = lw.max(0)
  return -(top + np.log(np.exp(lw - top).sum(0)) - np.log(k))


def evaluate(exp, state, workdir: str, rng: jax.Array) -> tuple[dict, dict]:
  """Scores a VAE on the (once-binarized) test split and draws its figures."""
  cfg = exp.config
  images = exp.test["image"]
  params = exp.params(state)
  per_example = exp.evaluate_split(state, rng)
  result = means(per_example, "test")
  result.pop("test/loss", None)

  log_weights = make_iwae_log_weights(exp.model, cfg)
  bs = max(1, min(cfg.data.eval_batch_size, 100))
  nll = [iwae_nll(log_weights, params, to_unit_float(jnp.asarray(images[i:i + bs])),
                  jax.random.fold_in(rng, 10_000 + i), cfg.eval.iwae_k, cfg.eval.iwae_chunk)
         for i in range(0, len(images), bs)]
  result["test/nll_iwae"] = float(np.mean(np.concatenate(nll)))
  result["config/iwae_k"] = cfg.eval.iwae_k

  codes = _posterior_means(exp, params, images)
  result["test/active_units"] = int(np.sum(np.var(codes, axis=0) > 0.01))
  result["config/latent_size"] = cfg.model.latent_size
  result["config/beta"] = cfg.vae.beta
  result["model/params"] = num_params(state.params)
  return result, _figures(exp, state, workdir, codes)


def _posterior_means(exp, params, images) -> np.ndarray:
  return apply_to_images(lambda x: exp.model.apply({"params": params}, x, method="encode")[0],
                         images)


def _decode(exp, params, z) -> np.ndarray:
  out = exp.model.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
  return np.asarray(decoder_mean(exp.config, out))


def _figures(exp, state, workdir: str, codes: np.ndarray) -> dict:
  params = exp.params(state)
  images, labels = exp.test["image"], exp.test["label"]
  out = figures.ensure_dir(os.path.join(workdir, "report"))
  figs = {}
  if exp.info["modality"] == "points":  # samples are drawn as a scatter by evaluation
    if codes.shape[1] == 2:
      figs["Test codes by mode"] = figures.latent_scatter(
          os.path.join(out, "latent_scatter.png"), codes, labels)
    return {k: os.path.relpath(v, workdir) for k, v in figs.items()}
  prior = jax.random.normal(jax.random.key(0), (64, exp.config.model.latent_size))
  figs["Samples from the prior (decoder means)"] = figures.rows_png(
      os.path.join(out, "prior_samples.png"), list(_decode(exp, params, prior).reshape(8, 8, *images.shape[1:])))
  x = images[:16]
  figs["Reconstructions from the posterior mean (top: binarized input)"] = figures.rows_png(
      os.path.join(out, "reconstructions.png"),
      [x.astype(np.float32) / 255.0, _decode(exp, params, codes[:16])])
  pairs = figures.pick_pairs(labels, 6)
  interp = figures.interpolation_codes(codes[pairs[:, 0]], codes[pairs[:, 1]], 10)
  figs["Latent interpolation between posterior means (one pair per row)"] = figures.rows_png(
      os.path.join(out, "interpolation.png"),
      list(_decode(exp, params, interp).reshape(6, 10, *images.shape[1:])))
  if codes.shape[1] == 2:
    figs["Test codes by class"] = figures.latent_scatter(
        os.path.join(out, "latent_scatter.png"), codes, labels)
    grid = np.linspace(-2.5, 2.5, 15)
    zs = np.stack(np.meshgrid(grid, -grid), -1).reshape(-1, 2)
    figs["Decoded manifold on a grid over [-2.5, 2.5]²"] = figures.rows_png(
        os.path.join(out, "manifold.png"),
        list(_decode(exp, params, zs).reshape(15, 15, *images.shape[1:])), scale=2)
  return {k: os.path.relpath(v, workdir) for k, v in figs.items()}
