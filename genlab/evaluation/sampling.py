"""Drawing samples from a trained workdir, per step family.

An AE has no prior, so its sampler fits a full-covariance Gaussian to the codes
of the training split (ex-post density estimation, Ghosh et al. 2020) and decodes
draws from it; with a label it fits the codes of that class only. A GAN pushes
z ~ N(0, I) through its generator, the EMA copy when the run keeps one.
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


def gan_labels(exp, num: int, label: int | None) -> np.ndarray | None:
  """Labels for `num` draws: None when unconditional, else `label` or every class in turn."""
  num_classes = exp.info["num_classes"]
  if not exp.config.model.get("conditional", False):
    if label is not None:
      raise ValueError("this GAN is unconditional: --label needs a conditional model")
    return None
  if label is None:
    return np.arange(num) % num_classes  # balanced, so class statistics stay comparable
  if not 0 <= label < num_classes:
    raise ValueError(f"label {label} is not a class of this model (0..{num_classes - 1})")
  return np.full(num, label)


def requested_labels(exp, num: int) -> np.ndarray | None:
  """The classes a family's sampler asks for when drawing `num` unlabelled samples:
  a conditional GAN's balanced labels (see `gan_labels`), else None."""
  if exp.config.step_family == "adversarial":
    return gan_labels(exp, num, None)
  return None


def gan_generate(exp, state, z, labels: np.ndarray | None = None) -> np.ndarray:
  """G(z, labels) in inference mode, with the params the adversarial step's
  eval_step and sample grids use: `extra['g_ema']` when `gan.ema_decay` > 0."""
  use_ema = exp.config.gan.ema_decay > 0
  params = state.extra["g_ema"] if use_ema else state.params["g"]
  cols = state.model_state.get("g", {})
  variables = {"params": {"generator": params},
               **{col: {"generator": v} for col, v in cols.items()}}
  out = jax.jit(lambda v, z, y: exp.model.apply(v, z, y, False, method="generate"))(
      variables, jnp.asarray(z, jnp.float32), None if labels is None else jnp.asarray(labels))
  return np.asarray(out)


def gan_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """G(z) for z ~ N(0, I): [num, H, W, C] in [0, 1] (or [num, 2] points)."""
  labels = gan_labels(exp, num, label)
  return gan_generate(exp, state, jax.random.normal(rng, (num, exp.config.model.latent_size)),
                      labels)


SAMPLERS.register("reconstruction", autoencoder_samples)
SAMPLERS.register("elbo", vae_samples)
SAMPLERS.register("adversarial", gan_samples)
