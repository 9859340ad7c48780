"""Pix2Pix (Isola et al. 2017): a U-Net generator and a PatchGAN discriminator.

G: x [B, H, W, C] in [0, 1] -> an image in [0, 1]. An encoder of 4×4 stride-2 convs
(`ConvDownsample`) halves the image `len(channels) - 1` times, a 3×3 conv works at the
bottom, and a decoder of 4×4 stride-2 transposed convs (`ConvTransposeUpsample`, fast to
train on XLA:CPU) climbs back. Every decoder level is concatenated with the encoder
output of the same resolution (the skips), the input image included: the output can
copy what the input already gets right (a sketch's strokes, a low-res image's layout)
and spend the net's capacity on what is missing. Dropout in the first `dropout_layers`
decoder levels is G's only noise (the paper's; no z). Instance norm (the paper's batch
norm at batch size 1) keeps examples independent and needs no running statistics.

D: a PatchGAN on the concatenated (A, B): `n_down` 4×4 stride-2 convs (the first
without norm), one 4×4 stride-1 conv, then a 4×4 stride-1 conv to one logit per patch
(the reference NLayerDiscriminator). Its receptive field is 70 px for n_down = 3 on
256×256 images; `patch_layers` scales it to the image size (`receptive_field`).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.nn.resample import ConvDownsample, ConvTransposeUpsample

# The paper's 70×70 patch on 256×256 images: the fraction of the image a logit sees.
PAPER_FIELD_FRACTION = 70 / 256


def _norm(name: str) -> nn.Module:
  return nn.InstanceNorm(name=name)


class UNetGenerator(nn.Module):
  """x [B, H, W, C] -> [B, H, W, out_channels] in [0, 1] (module docstring).

  `channels[i]` are the features of encoder level i + 1 (H / 2^(i+1)); the last is the
  bottom. H and W must be divisible by 2^len(channels).
  """

  channels: Sequence[int] = (64, 128)
  out_channels: int = 1
  dropout: float = 0.5
  dropout_layers: int = 2

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    depth = len(self.channels)
    if x.shape[1] % 2 ** depth or x.shape[2] % 2 ** depth:
      raise ValueError(f"a U-Net with {depth} downsamplings needs H and W divisible by "
                       f"{2 ** depth}, got {x.shape[1:3]}")
    skips, h = [x], x
    for i, ch in enumerate(self.channels):
      h = ConvDownsample(ch, name=f"down_{i}")(h)
      h = nn.leaky_relu(_norm(f"norm_down_{i}")(h) if i else h, 0.2)
      skips.append(h)
    h = nn.Conv(self.channels[-1], (3, 3), padding=1, name="bottom")(h)
    h = nn.relu(_norm("norm_bottom")(h))
    for level in range(depth - 1, -1, -1):  # up to the resolution of skips[level]
      h = jnp.concatenate([h, skips[level + 1]], axis=-1)
      features = self.channels[level - 1] if level else self.channels[0]
      h = nn.relu(_norm(f"norm_up_{level}")(ConvTransposeUpsample(features,
                                                                  name=f"up_{level}")(h)))
      if depth - 1 - level < self.dropout_layers and self.dropout > 0:
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = jnp.concatenate([h, x], axis=-1)
    return nn.sigmoid(nn.Conv(self.out_channels, (3, 3), padding=1, name="out")(h))


def receptive_field(n_down: int) -> int:
  """Pixels one PatchGAN logit sees through its convolutions: 4×4 convs, `n_down` of
  stride 2, then two of stride 1 (instance norm adds each image's statistics)."""
  field = 1
  for stride in [1, 1] + [2] * n_down:  # from the logit back to the input
    field = (field - 1) * stride + 4
  return field


def patch_layers(image_size: int, fraction: float = PAPER_FIELD_FRACTION) -> int:
  """The n_down (≥ 1) whose receptive field is nearest `fraction` of `image_size`."""
  target = fraction * image_size
  fits = [n for n in range(1, 8) if image_size % 2 ** n == 0] or [1]
  return min(fits, key=lambda n: (abs(receptive_field(n) - target), n))


class PatchDiscriminator(nn.Module):
  """(A, B) -> logits [B, H', W'], one per patch (module docstring)."""

  features: int = 64
  n_down: int = 1
  norm: bool = True  # instance norm; off, a logit depends on its receptive field only

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    del labels, train  # unconditional; instance norm keeps no running statistics
    norm = lambda h, name: _norm(name)(h) if self.norm else h
    h = x
    for i in range(self.n_down):
      h = ConvDownsample(self.features * 2 ** i, name=f"down_{i}")(h)
      h = nn.leaky_relu(norm(h, f"norm_{i}") if i else h, 0.2)
    # A 4×4 kernel at stride 1 padded (1, 2) keeps the size (PyTorch's padding=1 loses 1).
    pad = ((1, 2), (1, 2))
    h = nn.Conv(self.features * 2 ** self.n_down, (4, 4), padding=pad, name="conv")(h)
    h = nn.leaky_relu(norm(h, "norm_conv"), 0.2)
    return nn.Conv(1, (4, 4), padding=pad, name="logits")(h)[..., 0]


class Pix2Pix(nn.Module):
  """G and D as the submodules 'generator' and 'discriminator' (the players g, d)."""

  generator: nn.Module
  discriminator: nn.Module

  def generate(self, source: jax.Array, train: bool = False) -> jax.Array:
    return self.generator(source, train)

  def discriminate(self, source: jax.Array, image: jax.Array, train: bool = False):
    """D on the pair (source, image) joined along channels -> patch logits."""
    return self.discriminator(jnp.concatenate([source, image], axis=-1), None, train)

  def __call__(self, source: jax.Array, train: bool = False):
    return self.discriminate(source, self.generate(source, train), train)
