"""Variational autoencoders: a Gaussian encoder q(z|x) and a decoder p(x|z).

The decoder returns pixel logits. For a Bernoulli likelihood they are the logits
of p(x|z); for a Gaussian likelihood sigmoid(logits) is the mean and `log_sigma`
(one learned scalar, or fixed) the standard deviation.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.nn import (MLP, ConvStack, SubPixelUpsample, UpConvStack, activation, bottom_hw,
                       center_crop)


class VAE(nn.Module):
  """An MLP (`channels=()`) or convolutional VAE with a diagonal Gaussian posterior."""

  image_shape: Sequence[int]
  latent_size: int = 20
  hidden: Sequence[int] = (500,)
  channels: Sequence[int] = ()
  activation: str = "relu"
  learn_sigma: bool = False
  init_log_sigma: float = -2.0

  def setup(self):
    if self.channels:
      self.enc_body = ConvStack(self.channels, self.activation)
      h, w = bottom_hw(self.image_shape, len(self.channels))
      self.dec_in = nn.Dense(h * w * self.channels[-1])
      self.dec_ups = UpConvStack(tuple(reversed(self.channels[:-1])), self.activation)
      self.dec_out = SubPixelUpsample(self.image_shape[-1])
    else:
      self.enc_body = MLP(self.hidden, self.activation, self.activation)
      self.dec_mlp = MLP((*reversed(self.hidden), math.prod(self.image_shape)),
                         self.activation)
    self.enc_hidden = [nn.Dense(w, name=f"enc_hidden_{i}")
                       for i, w in enumerate(self.hidden)] if self.channels else []
    self.dec_hidden = [nn.Dense(w, name=f"dec_hidden_{i}")
                       for i, w in enumerate(self.hidden)] if self.channels else []
    self.to_mean = nn.Dense(self.latent_size)
    self.to_logvar = nn.Dense(self.latent_size)
    if self.learn_sigma:
      self.log_sigma = self.param("log_sigma", nn.initializers.constant(self.init_log_sigma), ())
    else:
      self.log_sigma = jnp.asarray(self.init_log_sigma)

  def encode(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
    """Returns the posterior's (mean, log variance), each [B, latent]."""
    del train
    h = self.enc_body(x if self.channels else x.reshape(x.shape[0], -1))
    h = h.reshape(h.shape[0], -1)
    for layer in self.enc_hidden:
      h = activation(self.activation)(layer(h))
    return self.to_mean(h), self.to_logvar(h)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    """Returns pixel logits [B, H, W, C]."""
    del train
    if not self.channels:
      return self.dec_mlp(z).reshape(z.shape[0], *self.image_shape)
    act = activation(self.activation)
    for layer in reversed(self.dec_hidden):
      z = act(layer(z))
    h, w = bottom_hw(self.image_shape, len(self.channels))
    y = act(self.dec_in(z)).reshape(z.shape[0], h, w, self.channels[-1])
    return center_crop(self.dec_out(self.dec_ups(y)), *self.image_shape[:2])

  def __call__(self, x: jax.Array, rng: jax.Array, train: bool = False):
    """One reparameterized pass: (logits, mean, logvar, z)."""
    mean, logvar = self.encode(x, train)
    z = reparameterize(rng, mean, logvar)
    return self.decode(z, train), mean, logvar, z


def reparameterize(rng: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """z = μ + σ·ε with ε ~ N(0, I): a sample whose gradient flows into μ and σ."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)
