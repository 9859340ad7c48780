"""Drawing samples from a trained workdir, per step family.

An AE has no prior, so its sampler fits a full-covariance Gaussian to the codes
of the training split (ex-post density estimation, Ghosh et al. 2020) and decodes
draws from it; with a label it fits the codes of that class only.
"""

import jax
import jax.numpy as jnp
import numpy as np

from genlab.evaluation.split import apply_to_images
from genlab.registry import Registry
from genlab.steps.elbo import decoder_mean

SAMPLERS: Registry = Registry("sampler")


def autoencoder_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """Decoded draws from a Gaussian fitted to training codes: [num, H, W, C] in [0, 1]."""
  images, labels = exp.train
  if label is not None:
    if not np.any(labels == label):
      raise ValueError(f"label {label} does not occur in the training split "
                       f"(labels are {int(labels.min())}..{int(labels.max())})")
    images = images[labels == label]
  params = {"params": state.params["ae"]}
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
    raise ValueError("this VAE is unconditional: --label needs a conditional model")
  z = jax.random.normal(rng, (num, exp.config.model.latent_size))
  out = jax.jit(lambda p, z: exp.model.apply({"params": p}, z, method="decode"))(
      state.params["vae"], z)
  return np.asarray(decoder_mean(exp.config, out))


SAMPLERS.register("reconstruction", autoencoder_samples)
SAMPLERS.register("elbo", vae_samples)
