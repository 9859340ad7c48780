"""GAN models: an MLP generator and discriminator, and the container the step trains.

The adversarial step family talks to a `GAN` container through two methods,
`generate(z, labels, train)` and `discriminate(x, labels, train)`, so any generator /
discriminator pair with those call signatures (MLP, DCGAN, U-Net, PatchGAN, ...) plugs
in. Their variables live under the submodule names 'generator' and 'discriminator';
the step splits them into two networks of the train state.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError
from genlab.nn import MLP

# Generator output layers: 'sigmoid' for images in [0, 1] (genlab's pixel convention),
# 'linear' for real-valued data such as the 2-D toy sets.
OUTPUTS = ("sigmoid", "linear")


def check_labels(labels: jax.Array | None, num_classes: int) -> None:
  """Raises a one-line ValueError when labels are missing for, or given to, a model."""
  if num_classes and labels is None:
    raise ValueError(f"a conditional model ({num_classes} classes) needs labels")
  if not num_classes and labels is not None:
    raise ValueError("labels given to an unconditional model (num_classes=0)")


def with_labels(x: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
  """x [B, D] with one_hot(labels) [B, num_classes] appended when conditional.

  A mismatch between `labels` and `num_classes` is an error rather than silently
  ignored, so a conditional model can never be trained without its labels.
  """
  check_labels(labels, num_classes)
  if not num_classes:
    return x
  return jnp.concatenate([x, jax.nn.one_hot(labels, num_classes, dtype=x.dtype)], -1)


class MLPGenerator(nn.Module):
  """z [B, latent_size] (+ one-hot label) -> samples [B, *image_shape]."""

  image_shape: Sequence[int]
  hidden: Sequence[int] = (256, 256, 256)
  latent_size: int = 64
  activation: str = "relu"
  output: str = "sigmoid"
  num_classes: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    del train  # no batch norm or dropout
    if self.output not in OUTPUTS:
      raise UserError(f"unknown generator output {self.output!r}; known: {', '.join(OUTPUTS)}")
    if z.shape[-1] != self.latent_size:
      raise ValueError(f"z has {z.shape[-1]} dimensions; the generator expects "
                       f"latent_size={self.latent_size}")
    h = with_labels(z, labels, self.num_classes)
    out = MLP((*self.hidden, math.prod(self.image_shape)), self.activation,
              final_activation=self.output, name="mlp")(h)
    return out.reshape(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
  """x [B, ...] (+ one-hot label) -> logits [B]."""

  hidden: Sequence[int] = (256, 256, 256)
  activation: str = "leaky_relu"
  num_classes: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    del train
    h = with_labels(x.reshape(x.shape[0], -1), labels, self.num_classes)
    return MLP((*self.hidden, 1), self.activation, name="mlp")(h)[:, 0]


class GAN(nn.Module):
  """A generator and a discriminator under one module, so `models.build` returns one.

  Calling the module runs D(G(z)), which touches both networks: `init` through it
  creates every variable, then the step splits them by submodule name.
  """

  generator: nn.Module
  discriminator: nn.Module

  def generate(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    return self.generator(z, labels, train)

  def discriminate(self, x: jax.Array, labels: jax.Array | None = None,
                   train: bool = False) -> jax.Array:
    return self.discriminator(x, labels, train)

  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    return self.discriminate(self.generate(z, labels, train), labels, train)
