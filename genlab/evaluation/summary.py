"""One protocol for every family: the numbers of the lecture's summary (experiments.compare).

Every model is scored on the same reference data (mnist5k's test split, its feature net)
whatever it trained on: a model of `mnist5k32` (mnist5k with a 2-pixel border) has its
outputs cropped back to 28×28, so dFID, precision, recall and path lengths of all
families live in one feature space. What each family contributes:

  reconstruction  models with an encoder: grey test images in [0, 1] against the decoder's
                  output (mean) for the code (a VAE's posterior mean): `test/mse`, and
                  `test/psnr` as genlab defines it (the mean over images of 10 log₁₀(1/mse));
  samples         the family's own sampler (`StepFamily.sample`): `samples/dfid`, …, and
                  `samples/sharpness`, their Laplacian variance over the real images'
                  (below 1: blurrier than the data);
  latent paths    paths between two draws of the model's latent distribution (an AE's:
                  the Gaussian fitted to its training codes, as its sampler uses):
                  `samples/ppl` (genlab.metrics.path_length);
  features        the linear probe at 10 labels per class on the encoder's codes, or for
                  a GAN on its discriminator's penultimate features (the input of D's
                  logit layer, in inference mode), as DCGAN's paper probed D: `probe/acc_10`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genlab import data, metrics
from genlab.evaluation.sampling import code_gaussian, requested_labels
from genlab.evaluation.split import apply_to_images
from genlab.metrics import path_length, probe, sample_quality
from genlab.steps.base import to_unit_float
from genlab.steps.elbo import decoder_mean

REFERENCE = "mnist5k"  # the data every model of the summary is scored on
PROBE_LABELS = 10  # labels per class of the probe


def to_reference(images: np.ndarray, height: int, width: int) -> np.ndarray:
  """Centre-crops NHWC images to height × width (mnist5k32 → mnist5k's 28 × 28)."""
  h, w = images.shape[1:3]
  if (h, w) == (height, width):
    return images
  if h < height or w < width or (h - height) % 2 or (w - width) % 2:
    raise ValueError(f"cannot centre-crop {h}×{w} images to {height}×{width}")
  top, left = (h - height) // 2, (w - width) // 2
  return images[:, top:top + height, left:left + width]


@dataclasses.dataclass
class LatentSpace:
  """A model's latent distribution and decoder.

  Attributes:
    sample: (numpy Generator, n) -> latents [n, D] float32.
    decode: (latents [n, D], label=None) -> images [n, H, W, C] in [0, 1] (the model's own
      size). A class-conditional generator gets `label` for every latent, or by default
      every class in turn (latent i: class i mod classes, so both ends of path i and
      every point between them share a class); others ignore `label`.
    name: how the latents are drawn, for the protocol.
  """

  sample: Callable[[np.random.Generator, int], np.ndarray]
  decode: Callable[[np.ndarray], np.ndarray]
  name: str


def latent_space(exp, state) -> LatentSpace | None:
  """The latent space of a model that decodes or generates, else None."""
  family = exp.config.step_family
  if family == "reconstruction":
    params = {"params": exp.params(state)}
    mean, cov = code_gaussian(exp, state, exp.train["image"])
    dec = jax.jit(lambda c: jax.nn.sigmoid(exp.model.apply(params, c, method="decode")))
    return LatentSpace(lambda rng, n: rng.multivariate_normal(mean, cov, n).astype(np.float32),
                       lambda z, label=None: np.asarray(dec(jnp.asarray(z, jnp.float32))),
                       "Gaussian fitted to the training codes")
  if family == "elbo":
    dec = jax.jit(lambda p, z: decoder_mean(exp.config, exp.model.apply(
        {"params": p}, z, method="decode")))
    size = exp.config.model.latent_size
    draw = lambda rng, n: rng.standard_normal((n, size)).astype(np.float32)
    return LatentSpace(draw, lambda z, label=None: np.asarray(dec(exp.params(state),
                                                                  jnp.asarray(z))), "N(0, I)")
  sampler = exp.fns.sampler
  if exp.fns.generate is None or sampler is None:
    return None
  gen = jax.jit(exp.fns.generate)

  def draw(rng, n):
    key = jax.random.key(int(rng.integers(2 ** 31)))
    z = sampler.latents(key, n, sampling=True)
    z = jnp.concatenate(z, -1) if isinstance(z, tuple) else z
    return np.asarray(z, np.float32)

  def decode(z, label=None):
    labels = sampler.labels(len(z), label if sampler.condition == "label" else None)
    z = jnp.asarray(z)
    if sampler.prior == "hierarchical":
      z = tuple(jnp.split(z, sampler.chunks, axis=-1))
    return np.asarray(gen(state, z, None if labels is None else jnp.asarray(labels)))

  truncation = f", truncated at ±{sampler.truncation}" if sampler.truncation > 0 else ""
  return LatentSpace(draw, decode, f"G's prior ({sampler.prior}{truncation})")


def reconstruction_scores(exp, state, images: np.ndarray) -> dict:
  """`test/mse` and `test/psnr` of a model with an encoder ({} without one)."""
  family = exp.config.step_family
  if family not in ("reconstruction", "elbo"):
    return {}
  params = {"params": exp.params(state)}
  if family == "reconstruction":
    fn = lambda x: jax.nn.sigmoid(exp.model.apply(
        params, exp.model.apply(params, x, method="encode"), method="decode"))
  else:
    fn = lambda x: decoder_mean(exp.config, exp.model.apply(
        params, exp.model.apply(params, x, method="encode")[0], method="decode"))
  recon = apply_to_images(fn, images)
  per_image = np.mean(np.square(recon - images.astype(np.float32) / 255.0).reshape(
      len(images), -1), axis=1, dtype=np.float64)
  return {"test/mse": float(per_image.mean()),
          "test/psnr": float(np.mean(10 * np.log10(1.0 / np.maximum(per_image, 1e-10))))}


def discriminator_features(exp, state, images: np.ndarray, labels: np.ndarray,
                           batch: int = 500) -> np.ndarray | None:
  """A GAN's D features of uint8 `images`: the input of its `logit` layer, [N, F].

  None when the model has no discriminator `d` (or D sees packed groups).
  """
  if "d" not in state.params or exp.config.get("gan", {}).get("pack", 1) != 1:
    return None
  variables = {"params": {"discriminator": state.params["d"]},
               **{c: {"discriminator": v} for c, v in state.model_state.get("d", {}).items()}}
  conditional = exp.fns.sampler is not None and exp.fns.sampler.condition == "label"

  def features(x, y):
    captured = []

    def capture(next_fun, args, kwargs, context):
      if context.module.name == "logit" and context.method_name == "__call__":
        captured.append(args[0])
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(capture):
      exp.model.apply(variables, to_unit_float(x), y if conditional else None, False,
                      method="discriminate")
    return captured[0].reshape(x.shape[0], -1)

  fn = jax.jit(features)
  out = []
  for s in range(0, len(images), batch):
    x, y = images[s:s + batch], labels[s:s + batch]
    short = batch - len(x)
    x, y = (np.concatenate([v, np.repeat(v[-1:], short, 0)]) for v in (x, y))
    out.append(np.asarray(fn(jnp.asarray(x), jnp.asarray(y)))[:batch - short])
  return np.concatenate(out)


def probe_features(exp, state, images: np.ndarray, labels: np.ndarray):
  """(features, what they are) for the probe: the encoder's codes, else D's features."""
  if exp.family.encode is not None:
    return np.asarray(exp.family.encode(exp, state, images)), "encoder"
  feats = discriminator_features(exp, state, images, labels)
  return (None, "") if feats is None else (feats, "discriminator penultimate")


def measure(exp, state, feature_net, *, num_samples: int, ppl_paths: int,
            ppl_eps: float = 1e-4, interpolation: str = "lerp", seed: int = 0) -> dict:
  """Every summary number this model has (module docstring), with its protocol.

  Args:
    exp, state: a restored workdir (genlab.evaluate.restore).
    feature_net: the REFERENCE data's FeatureNet.
    num_samples: samples scored (against as many real test images).
    ppl_paths: paths of the path length.
    ppl_eps, interpolation: the path length's finite difference and interpolation.
    seed: seeds the samples and the paths.
  """
  real, _ = data.load_arrays(REFERENCE, metrics.REAL_SPLIT)
  height, width = real.shape[1:3]
  out = {"protocol/reference_data": REFERENCE, "protocol/data": exp.config.data.name}
  out.update(reconstruction_scores(exp, state, exp.test["image"]))
  if exp.family.sample is not None:
    fake = exp.family.sample(exp, state, num_samples, jax.random.key(seed), None)
    cropped = to_reference(np.asarray(fake), height, width)
    out.update(metrics.score_samples(exp.config, {"modality": "images"}, cropped,
                                     requested_labels(exp, num_samples),
                                     feature_net=feature_net, real=real))
    out["samples/sharpness"] = sample_quality.sharpness_ratio(cropped, real[:len(cropped)])
  space = latent_space(exp, state)
  if space is not None and ppl_paths:
    decode = lambda z: to_reference(space.decode(z), height, width)
    out.update(path_length.perceptual_path_length(decode, feature_net.features, space.sample,
                                                  ppl_paths, ppl_eps, interpolation, seed))
    out["samples/ppl_ratio"] = out["samples/ppl"] / max(out["samples/ppl_straight"], 1e-12)
    out["protocol/ppl_latents"] = space.name
  train_y, test_y = exp.train["label"], exp.test["label"]
  tr, what = probe_features(exp, state, exp.train["image"], train_y)
  if tr is not None:
    te, _ = probe_features(exp, state, exp.test["image"], test_y)
    flat = lambda v: np.asarray(v, np.float32).reshape(len(v), -1)
    got = probe.linear_probe(flat(tr), train_y, flat(te), test_y, budgets=(PROBE_LABELS,))
    out.update({f"probe/{k}": v for k, v in got.items()})
    out["probe/features"] = what
    out["probe/feature_size"] = int(flat(te).shape[1])
  return out



def pixel_probe() -> float:
  """The probe's baseline: the same 10-label probe on the reference data's raw pixels."""
  train_x, train_y = data.load_arrays(REFERENCE, "train")
  test_x, test_y = data.load_arrays(REFERENCE, "test")
  flat = lambda v: v.reshape(len(v), -1).astype(np.float32) / 255.0
  return probe.linear_probe(flat(train_x), train_y, flat(test_x), test_y,
                            budgets=(PROBE_LABELS,))[f"acc_{PROBE_LABELS}"]
