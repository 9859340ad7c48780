"""Autoencoders: every variant is a preset of these two modules.

Convention: the decoder returns logits; the reconstruction is sigmoid(logits),
i.e. the lecture's x̂ = s(W′h + b′) on pixels in [0, 1].
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.nn import (ConvStack, SubPixelUpsample, UpConvStack, activation, bottom_hw,
                       center_crop)


class MLPAutoencoder(nn.Module):
  """A dense encoder/decoder pair, mirrored, with optionally tied weights.

  With `tied=True` the decoder reuses the encoder kernels transposed, so that for
  one hidden layer x̂ = s(Wᵀh + b′) with h = s(Wx + b); only biases are separate.
  `layerwise(x, k)` exposes the k-th shallow AE for greedy layer-wise pre-training.
  """

  image_shape: Sequence[int]
  hidden: Sequence[int] = (512, 256)
  code_size: int = 32
  activation: str = "relu"
  code_activation: str = "linear"
  tied: bool = False

  def setup(self):
    dims = [math.prod(self.image_shape), *self.hidden, self.code_size]
    init_w, zeros = nn.initializers.lecun_normal(), nn.initializers.zeros_init()
    self.enc_w = [self.param(f"enc_{i}_kernel", init_w, (dims[i], dims[i + 1]))
                  for i in range(len(dims) - 1)]
    self.enc_b = [self.param(f"enc_{i}_bias", zeros, (dims[i + 1],))
                  for i in range(len(dims) - 1)]
    # Decoder layer i mirrors encoder layer i: it maps dims[i+1] -> dims[i].
    if self.tied:
      self.dec_w = [w.T for w in self.enc_w]
    else:
      self.dec_w = [self.param(f"dec_{i}_kernel", init_w, (dims[i + 1], dims[i]))
                    for i in range(len(dims) - 1)]
    self.dec_b = [self.param(f"dec_{i}_bias", zeros, (dims[i],))
                  for i in range(len(dims) - 1)]

  @property
  def num_layers(self) -> int:
    return len(self.hidden) + 1

  def _enc_act(self, i: int):
    return activation(self.code_activation if i == self.num_layers - 1 else self.activation)

  def _encode_layer(self, i: int, h: jax.Array) -> jax.Array:
    return self._enc_act(i)(h @ self.enc_w[i] + self.enc_b[i])

  def _decode_layer(self, i: int, h: jax.Array) -> jax.Array:
    out = h @ self.dec_w[i] + self.dec_b[i]
    return out if i == 0 else activation(self.activation)(out)

  def encode(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    h = x.reshape(x.shape[0], -1)
    for i in range(self.num_layers):
      h = self._encode_layer(i, h)
    return h

  def decode(self, code: jax.Array, train: bool = False) -> jax.Array:
    del train
    h = code
    for i in reversed(range(self.num_layers)):
      h = self._decode_layer(i, h)
    return h.reshape(code.shape[0], *self.image_shape)

  def __call__(self, x: jax.Array, train: bool = False):
    code = self.encode(x, train)
    return self.decode(code, train), code

  def layerwise(self, x: jax.Array, k: int):
    """The k-th shallow AE of greedy pre-training, on frozen layers < k.

    Returns:
      (prediction, target, code). For k = 0 the prediction is pixel logits and
      the target is x; for k > 0 both are hidden activations of layer k - 1.
    """
    h = x.reshape(x.shape[0], -1)
    for i in range(k):
      h = self._encode_layer(i, h)
    h = jax.lax.stop_gradient(h)
    code = self._encode_layer(k, h)
    pred = self._decode_layer(k, code)
    if k == 0:
      return pred.reshape(x.shape), x, code
    return pred, h, code


class ConvAutoencoder(nn.Module):
  """Stride-2 conv encoder, dense code, sub-pixel conv decoder."""

  image_shape: Sequence[int]
  channels: Sequence[int] = (32, 64)
  code_size: int = 32
  # ELU, not ReLU: with a sigmoid output and MSE, ReLU decoders were measured to
  # collapse to an all-black output within 20 Adam steps (dead units, no gradient).
  activation: str = "elu"
  code_activation: str = "linear"

  def setup(self):
    self.encoder_convs = ConvStack(self.channels, self.activation)
    self.to_code = nn.Dense(self.code_size)
    h, w = bottom_hw(self.image_shape, len(self.channels))
    self.from_code = nn.Dense(h * w * self.channels[-1])
    self.decoder_ups = UpConvStack(tuple(reversed(self.channels[:-1])), self.activation)
    # The last 2× step emits pixel logits directly: a full-resolution conv on top
    # would cost as much as the rest of the decoder on CPU.
    self.to_pixels = SubPixelUpsample(self.image_shape[-1])

  def encode(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train
    h = self.encoder_convs(x)
    return activation(self.code_activation)(self.to_code(h.reshape(h.shape[0], -1)))

  def decode(self, code: jax.Array, train: bool = False) -> jax.Array:
    del train
    h, w = bottom_hw(self.image_shape, len(self.channels))
    z = activation(self.activation)(self.from_code(code))
    z = self.decoder_ups(z.reshape(code.shape[0], h, w, self.channels[-1]))
    return center_crop(self.to_pixels(z), *self.image_shape[:2])

  def __call__(self, x: jax.Array, train: bool = False):
    code = self.encode(x, train)
    return self.decode(code, train), code
