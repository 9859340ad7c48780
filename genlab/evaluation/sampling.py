"""Drawing samples from a trained workdir, per step family (`StepFamily.sample`).

An AE has no prior, so its sampler fits a full-covariance Gaussian to the codes
of the training split (ex-post density estimation, Ghosh et al. 2020) and decodes
draws from it; with a label it fits the codes of that class only. A VAE decodes
z ~ N(0, I). A GAN pushes the one sampler's draws (genlab.sampler) through its
generator in inference mode: the EMA copy, with its own statistics, when it keeps one.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from genlab.errors import UserError
from genlab.evaluation.split import apply_to_images
from genlab.steps.elbo import decoder_mean


def autoencoder_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """Decoded draws from a Gaussian fitted to training codes: [num, H, W, C] in [0, 1]."""
  images, labels = exp.train["image"], exp.train["label"]
  if label is not None:
    if not np.any(labels == label):
      raise UserError(f"label {label} does not occur in the training split "
                      f"(labels are {int(labels.min())}..{int(labels.max())})")
    images = images[labels == label]
  params = {"params": exp.params(state)}
  codes = apply_to_images(lambda x: exp.model.apply(params, x, method="encode"), images)
  codes = codes.reshape(len(images), -1)
  mean = codes.mean(0)
  cov = np.cov(codes, rowvar=False) + 1e-5 * np.eye(codes.shape[1])
  z = jax.random.multivariate_normal(rng, jnp.asarray(mean), jnp.asarray(cov), (num,))
  logits = jax.jit(lambda c: exp.model.apply(params, c, method="decode"))(z.astype(jnp.float32))
  return np.asarray(jax.nn.sigmoid(logits))


def vae_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """Decoder means of z ~ N(0, I): [num, H, W, C] in [0, 1] (or [num, D] points)."""
  if label is not None:
    raise UserError("this VAE is unconditional: --label needs a conditional model")
  z = jax.random.normal(rng, (num, exp.config.model.latent_size))
  out = jax.jit(lambda p, z: exp.model.apply({"params": p}, z, method="decode"))(
      exp.params(state), z)
  return np.asarray(decoder_mean(exp.config, out))


def requested_labels(exp, num: int) -> np.ndarray | None:
  """The classes a family's sampler asks for when drawing `num` unlabelled samples:
  every class in turn for a label-conditioned generator, else None."""
  sampler = exp.fns.sampler
  return None if sampler is None else sampler.labels(num)


@functools.lru_cache(maxsize=None)
def _jitted_generate(generate):
  return jax.jit(generate)


def generate(exp, state, z, condition=None) -> np.ndarray:
  """G(z, condition) in inference mode, as the family's eval_step and grids use it."""
  if exp.fns.generate is None:
    raise UserError(f"step family {exp.config.step_family!r} with this game does not "
                    "sample from a prior")
  cond = None if condition is None else jnp.asarray(condition)
  return np.asarray(_jitted_generate(exp.fns.generate)(state, z, cond))


def prior_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """G's samples for `num` draws of the one sampler: [num, H, W, C] in [0, 1] (or points).

  Drawn at sampling time (truncated when `sampler.truncation` > 0); conditional
  generators get `label`, or every class in turn.
  """
  sampler = exp.fns.sampler
  if sampler is None:
    raise UserError(f"step family {exp.config.step_family!r} with this game does not "
                    "sample from a prior")
  labels = sampler.labels(num, label)
  return generate(exp, state, sampler.latents(rng, num, sampling=True), labels)
