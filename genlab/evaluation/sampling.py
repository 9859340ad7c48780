"""Drawing samples from a trained workdir, per step family (`StepFamily.sample`).

An AE has no prior, so its sampler fits a full-covariance Gaussian to the codes
of the training split (ex-post density estimation, Ghosh et al. 2020) and decodes
draws from it; with a label it fits the codes of that class only. A VAE decodes
z ~ N(0, I). A GAN pushes the one sampler's draws (genlab.sampler) through its
generator in inference mode: the EMA copy, with its own statistics, when it keeps one.
A game that translates its inputs (Pix2Pix) "samples" the translations of the test
split's first examples, in order.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from genlab.errors import UserError
from genlab.evaluation.split import apply_to_images
from genlab.steps.elbo import decoder_mean


def code_gaussian(exp, state, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(mean [K], covariance [K, K]) of an AE's flattened codes of uint8 `images`: the
  latent distribution its sampler draws from."""
  params = {"params": exp.params(state)}
  codes = apply_to_images(lambda x: exp.model.apply(params, x, method="encode"), images)
  codes = codes.reshape(len(images), -1)
  return codes.mean(0), np.cov(codes, rowvar=False) + 1e-5 * np.eye(codes.shape[1])


def autoencoder_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """Decoded draws from a Gaussian fitted to training codes: [num, H, W, C] in [0, 1]."""
  images, labels = exp.train["image"], exp.train["label"]
  if label is not None:
    if not np.any(labels == label):
      raise UserError(f"label {label} does not occur in the training split "
                      f"(labels are {int(labels.min())}..{int(labels.max())})")
    images = images[labels == label]
  params = {"params": exp.params(state)}
  mean, cov = code_gaussian(exp, state, images)
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


def translations(exp, state, split: dict, num: int, rng: jax.Array) -> dict[str, np.ndarray]:
  """{direction: outputs} of the game's translate for the first `num` examples of
  `split`, in batches of one fixed size (one compile); batch i draws any noise of the
  generator (Pix2Pix's dropout) from fold_in(rng, i)."""
  size = exp.config.data.eval_batch_size
  fn = _jitted_generate(exp.fns.translate)
  parts: dict[str, list] = {}
  for i, start in enumerate(range(0, num, size)):
    batch = {k: v[start:start + size] for k, v in split.items()}
    short = size - len(next(iter(batch.values())))
    batch = {k: jnp.asarray(np.concatenate([v, np.repeat(v[-1:], short, 0)]) if short else v)
             for k, v in batch.items()}
    for direction, out in fn(state, batch, jax.random.fold_in(rng, i)).items():
      parts.setdefault(direction, []).append(np.asarray(out)[:size - short])
  return {d: np.concatenate(v)[:num] for d, v in parts.items()}


def game_samples(exp, state, num: int, rng: jax.Array, label: int | None) -> np.ndarray:
  """The adversarial family's samples: G's prior samples, or for a translation game the
  translations of the first `num` test examples (its first direction)."""
  if exp.fns.translate is None:
    return prior_samples(exp, state, num, rng, label)
  if label is not None:
    raise UserError("this model translates its inputs: --label needs a conditional model")
  n = min(num, len(next(iter(exp.test.values()))))
  if n < num:
    raise UserError(f"this model translates test examples: the test split has {n}, "
                    f"asked for {num}")
  return next(iter(translations(exp, state, exp.test, num, rng).values()))
