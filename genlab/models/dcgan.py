"""DCGAN (Radford et al. 2016): all-convolutional G and D with batch norm, on images.

G: z (+ one-hot label) -> Dense to a (H/2^n)×(W/2^n) map -> n stride-2 upsamplers
(batch norm + ReLU between them) -> sigmoid pixels in [0, 1].
D: n stride-2 4×4 convs with leaky ReLU(0.2), normalization on all but the first,
optionally 3×3 stride-1 'head' blocks -> one logit (+ a projection term <embed(y), h>
when conditional, Miyato & Koyama 2018).

The upsampler is chosen by name, so README's speed study is a config flag:
'adjoint' (exactly PyTorch's 4×4 stride-2 transposed conv, with the hand-written
gradient of genlab.nn.resample), 'transpose' (the same function as nn.ConvTranspose,
with XLA's own gradient: ~13× slower on CPU), 'subpixel' (3×3 conv + depth-to-space).
"""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError
from genlab.models.gan import check_labels, with_labels
from genlab.nn import blocks
from genlab.nn.resample import ConvDownsample, ConvTransposeUpsample


def _transpose_up(features: int, name: str, use_bias: bool = True) -> nn.Module:
  # Kernel 4, stride 2, explicit padding 2 = PyTorch's padding 1: H -> 2H.
  return nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                          use_bias=use_bias, name=name)


# (features, name, use_bias) -> a 2× upsampling layer.
UPSAMPLERS: dict[str, Callable[..., nn.Module]] = {
    "adjoint": lambda f, name, use_bias=True: ConvTransposeUpsample(f, use_bias=use_bias,
                                                                    name=name),
    "subpixel": lambda f, name, use_bias=True: blocks.SubPixelUpsample(f, use_bias=use_bias,
                                                                       name=name),
    "transpose": _transpose_up,
}
# 'layer' and 'none' keep D's outputs per-example, which gradient penalties assume.
D_NORMS = ("batch", "layer", "none")
# PyTorch's BatchNorm momentum 0.1 (flax counts the other way).
_BN_MOMENTUM = 0.9


def _choose(table: dict, name: str, what: str):
  if name not in table:
    raise UserError(f"unknown {what} {name!r}; known: {', '.join(table)}")
  return table[name]


class DCGANGenerator(nn.Module):
  """z [B, latent_size] (+ label) -> images [B, *image_shape] in [0, 1].

  `channels` are the widths before each upsampler, e.g. (128, 64) on 28×28:
  7×7×128 -> 14×14×64 -> 28×28×C.
  """

  image_shape: Sequence[int]
  latent_size: int = 64
  channels: Sequence[int] = (128, 64)
  upsample: str = "adjoint"
  num_classes: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    up = _choose(UPSAMPLERS, self.upsample, "upsampler")
    if z.shape[-1] != self.latent_size:
      raise ValueError(f"z has {z.shape[-1]} dimensions; the generator expects "
                       f"latent_size={self.latent_size}")
    height, width, out_channels = self.image_shape
    h0, w0 = blocks.bottom_hw(self.image_shape, len(self.channels))
    bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                                   name=name)
    # No bias before a batch norm: its mean subtraction cancels it, so its gradient is
    # zero up to rounding, which Adam would scale up to full-size noisy steps.
    h = nn.Dense(h0 * w0 * self.channels[0], use_bias=False, name="project")(
        with_labels(z, labels, self.num_classes))
    h = nn.relu(bn("bn_project")(h)).reshape(z.shape[0], h0, w0, self.channels[0])
    for i, ch in enumerate(self.channels[1:]):
      h = nn.relu(bn(f"bn_{i}")(up(ch, f"up_{i}", use_bias=False)(h)))
    h = up(out_channels, f"up_{len(self.channels) - 1}")(h)
    return nn.sigmoid(blocks.center_crop(h, height, width))


class DCGANDiscriminator(nn.Module):
  """x [B, H, W, C] (+ label) -> logits [B].

  `head_convs` 3×3 stride-1 conv blocks at the last resolution widen what one unit of the
  logit's input sees (a 2-layer D on 28×28: ~10 px), so D can judge a digit's whole shape.
  """

  channels: Sequence[int] = (64, 128)
  norm: str = "batch"
  head_convs: int = 0
  num_classes: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    if self.norm not in D_NORMS:
      raise UserError(f"unknown discriminator norm {self.norm!r}; known: {', '.join(D_NORMS)}")
    check_labels(labels, self.num_classes)
    def normalize(h, name):
      if self.norm == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                            name=f"bn_{name}")(h)
      if self.norm == "layer":
        return nn.LayerNorm(name=f"ln_{name}")(h)
      return h

    h = x
    # As in G, no bias where batch norm follows and cancels it.
    bias = lambda normalized: not (normalized and self.norm == "batch")
    for i, ch in enumerate(self.channels):
      # nn.Conv's function, with gradients fast to differentiate again (penalties).
      h = ConvDownsample(ch, use_bias=bias(i > 0), name=f"down_{i}")(h)
      h = nn.leaky_relu(normalize(h, str(i)) if i else h, 0.2)
    for j in range(self.head_convs):
      h = nn.Conv(h.shape[-1], (3, 3), padding=1, use_bias=bias(True), name=f"head_{j}")(h)
      h = nn.leaky_relu(normalize(h, f"head_{j}"), 0.2)
    h = h.reshape(h.shape[0], -1)
    logits = nn.Dense(1, name="logit")(h)[:, 0]
    if self.num_classes:
      embed = nn.Embed(self.num_classes, h.shape[-1], name="projection")(labels)
      logits = logits + jnp.sum(embed * h, axis=-1)
    return logits
