"""Blocks shared by every model family: MLPs, conv stacks and a fast upsampler."""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda x: x,
    "relu": nn.relu,
    "leaky_relu": lambda x: nn.leaky_relu(x, 0.2),
    "elu": nn.elu,
    "gelu": nn.gelu,
    "sigmoid": nn.sigmoid,
    "tanh": jnp.tanh,
    "softplus": nn.softplus,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  """Returns the activation called `name`, or raises a one-line UserError."""
  if name not in _ACTIVATIONS:
    raise UserError(f"unknown activation {name!r}; known: {', '.join(sorted(_ACTIVATIONS))}")
  return _ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers; `activation` between them, `final_activation` after the last."""

  features: Sequence[int]
  activation: str = "relu"
  final_activation: str = "linear"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, width in enumerate(self.features):
      x = nn.Dense(width, name=f"dense_{i}")(x)
      last = i == len(self.features) - 1
      x = activation(self.final_activation if last else self.activation)(x)
    return x


class ConvStack(nn.Module):
  """Stride-2 convolutions, one per entry of `channels` (each halves H and W)."""

  channels: Sequence[int]
  activation: str = "relu"
  kernel_size: int = 4

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = activation(self.activation)
    for i, ch in enumerate(self.channels):
      k = (self.kernel_size, self.kernel_size)
      x = act(nn.Conv(ch, k, strides=(2, 2), padding="SAME", name=f"conv_{i}")(x))
    return x


def bottom_hw(image_shape, num_downsamples: int) -> tuple[int, int]:
  """Spatial size after `num_downsamples` stride-2 'SAME' convs (ceil each time)."""
  f = 2 ** num_downsamples
  return -(-image_shape[0] // f), -(-image_shape[1] // f)


def center_crop(x: jax.Array, height: int, width: int) -> jax.Array:
  """Crops NHWC maps that came back larger (28 -> 14 -> 7 -> 4 -> ... -> 32) to H×W."""
  top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
  return x[:, top:top + height, left:left + width]


def depth_to_space(x: jax.Array, factor: int = 2) -> jax.Array:
  """[B, H, W, C·f²] -> [B, H·f, W·f, C], the pixel-shuffle layout."""
  b, h, w, c = x.shape
  oc = c // (factor * factor)
  x = x.reshape(b, h, w, factor, factor, oc)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, h * factor, w * factor, oc)


class SubPixelUpsample(nn.Module):
  """2× upsampling as a 3×3 conv to 4× channels followed by depth-to-space.

  Why not `nn.ConvTranspose`: on XLA:CPU the gradient of a strided transposed
  conv is ~7× slower than PyTorch's; this layer has the same receptive field
  class and was measured 3.6× faster (see ../shared/FACTS.md).
  """

  features: int
  kernel_size: int = 3
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = (self.kernel_size, self.kernel_size)
    x = nn.Conv(4 * self.features, k, padding="SAME", use_bias=self.use_bias, name="conv")(x)
    return depth_to_space(x, 2)


class UpConvStack(nn.Module):
  """Sub-pixel 2× upsamplers, one per entry of `channels`, each followed by `activation`."""

  channels: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = activation(self.activation)
    for i, ch in enumerate(self.channels):
      x = act(SubPixelUpsample(ch, name=f"up_{i}")(x))
    return x
