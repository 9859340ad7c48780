"""SAGAN (Zhang et al. 2019) and BigGAN (Brock et al. 2019): ResNet G and D with
spectral norm, self-attention and class-conditional batch norm.

The two differ by flags of the same networks:
  SAGAN   z [B, latent_size] -> G's first Dense; every conditional batch norm (CBN) of
          G sees one_hot(label).
  BigGAN  `hierarchical`: z comes in len(channels) + 1 equal chunks (genlab.sampler's
          'hierarchical' prior); the first feeds the Dense, block i's CBNs see
          concat(shared class embedding, chunk i + 1).
Both: D is a stack of residual down blocks, a global sum pool and a linear logit plus
the projection term <embed(y), h> (Miyato & Koyama 2018). Every conv and Dense of G
and D is spectrally normalized (the "spectral" collection); G keeps "batch_stats".
Pixels are in [0, 1] (G ends in a sigmoid).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError
from genlab.models.gan import check_labels
from genlab.nn import blocks
from genlab.nn.gan_layers import (BN_MOMENTUM, ConditionalBatchNorm, ResBlockDown, ResBlockUp,
                                  SelfAttention, SNConv, SNDense, check_attention_res)

Latent = jax.Array | Sequence[jax.Array]


class ResNetGenerator(nn.Module):
  """z (+ label) -> images [B, *image_shape] in [0, 1].

  z -> SN Dense to an (H/2^n)×(W/2^n)×channels[0] map -> one ResBlockUp per entry of
  `channels` (n = len(channels); attention after the block whose output height is
  `attention_res`) -> BN -> ReLU -> SN conv3×3 -> sigmoid. A side that is not a
  multiple of 2^n is rounded up and the image center-cropped (28 -> 4·2³ = 32 -> 28).

  Attributes:
    image_shape: (H, W, C) of the images.
    latent_size: dimensions of z in all (the sum of the chunks when hierarchical).
    channels: output channels of each up block, e.g. (256, 256, 256) on 32×32.
    num_classes: classes conditioned on; 0 = unconditional.
    attention_res: output height of the block followed by self-attention; 0 = none.
    hierarchical: BigGAN's chunked z and shared embedding (module docstring).
    embed_size: size of the shared class embedding (hierarchical and conditional).
    sn: spectral norm on every conv and Dense.
  """

  image_shape: Sequence[int]
  latent_size: int = 128
  channels: Sequence[int] = (256, 256, 256)
  num_classes: int = 0
  attention_res: int = 0
  hierarchical: bool = False
  embed_size: int = 128
  sn: bool = True

  def _chunks(self, z: Latent) -> tuple[jax.Array, ...]:
    """z as len(channels) + 1 chunks: a tuple as given, or one array split evenly."""
    parts = len(self.channels) + 1
    if isinstance(z, (tuple, list)):
      chunks = tuple(z)
    elif z.shape[-1] % parts:
      raise UserError(f"a hierarchical z of {z.shape[-1]} dimensions does not split into "
                      f"{parts} equal chunks (one per block, plus the first layer's)")
    else:
      chunks = tuple(jnp.split(z, parts, axis=-1))
    if len(chunks) != parts:
      raise UserError(f"a hierarchical generator with {len(self.channels)} blocks takes z in "
                      f"{parts} chunks (sampler.chunks={parts}), got {len(chunks)}")
    return chunks

  def _inputs(self, z: Latent, labels: jax.Array | None):
    """(the Dense's input [B, ·], each block's CBN condition [B, ·] or None)."""
    if self.hierarchical:
      chunks = self._chunks(z)
      if not self.num_classes:
        return chunks[0], list(chunks[1:])
      # Shared by all blocks: one embedding, each block its own projection of it. Its
      # rows start with the norm of a z chunk (N(0, chunk / embed_size) entries), so
      # class and z weigh alike in the CBN gains. Measured on mnist5k32
      # (docs/large_gans.md): unit-norm (orthogonal) rows, ~1/6 of the chunk's, left the
      # classes unlearnt (class accuracy 0.6); rows 2x the chunk's gave one sample per
      # class (recall 0.01, with G's learning rate at 4e-4).
      chunk = chunks[1].shape[-1]
      embedding = nn.Embed(self.num_classes, self.embed_size,
                           embedding_init=nn.initializers.normal((chunk / self.embed_size) ** 0.5),
                           name="shared_embedding")(labels)
      return chunks[0], [jnp.concatenate([embedding, c], -1) for c in chunks[1:]]
    if isinstance(z, (tuple, list)):  # a split normal z is still a normal z
      z = jnp.concatenate(z, -1)
    condition = jax.nn.one_hot(labels, self.num_classes) if self.num_classes else None
    return z, [condition] * len(self.channels)

  @nn.compact
  def __call__(self, z: Latent, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    check_labels(labels, self.num_classes)
    z_size = sum(c.shape[-1] for c in z) if isinstance(z, (tuple, list)) else z.shape[-1]
    if z_size != self.latent_size:
      raise ValueError(f"z has {z_size} dimensions; the generator expects "
                       f"latent_size={self.latent_size}")
    height, width, out_channels = self.image_shape
    h0, w0 = blocks.bottom_hw(self.image_shape, len(self.channels))
    check_attention_res(self.attention_res,
                        [h0 * 2 ** (i + 1) for i in range(len(self.channels))], "generator")
    dense_input, conditions = self._inputs(z, labels)
    h = SNDense(h0 * w0 * self.channels[0], sn=self.sn, name="project")(dense_input, train)
    h = h.reshape(h.shape[0], h0, w0, self.channels[0])
    for i, (ch, condition) in enumerate(zip(self.channels, conditions)):
      h = ResBlockUp(ch, sn=self.sn, name=f"block_{i}")(h, condition, train)
      if h.shape[1] == self.attention_res:
        h = SelfAttention(sn=self.sn, name="attention")(h, train)
    h = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, name="bn_out")(h)
    h = SNConv(out_channels, 3, sn=self.sn, name="to_image")(nn.relu(h), train)
    return nn.sigmoid(blocks.center_crop(h, height, width))


class ResNetDiscriminator(nn.Module):
  """x [B, H, W, C] (+ label) -> logits [B].

  One ResBlockDown per entry of `channels` (the first without its leading ReLU;
  attention after the block whose output height is `attention_res`), one residual block
  that keeps the resolution, ReLU, a sum over pixels, then an SN Dense logit plus
  <embed(y), h> when conditional. No batch norm: each logit depends on its example
  alone, as gradient penalties assume.

  Attributes:
    channels: output channels of each down block, e.g. (128, 128, 128) on 32×32.
    num_classes: classes conditioned on (projection); 0 = unconditional.
    attention_res: output height of the block followed by self-attention; 0 = none.
    sn: spectral norm on every conv, Dense and the class embedding.
  """

  channels: Sequence[int] = (128, 128, 128)
  num_classes: int = 0
  attention_res: int = 0
  sn: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    check_labels(labels, self.num_classes)
    resolutions, size = [], x.shape[1]
    for _ in self.channels:
      size = -(-size // 2)
      resolutions.append(size)
    check_attention_res(self.attention_res, resolutions, "discriminator")
    h = x
    for i, ch in enumerate(self.channels):
      h = ResBlockDown(ch, preactivation=i > 0, sn=self.sn, name=f"block_{i}")(h, train)
      if h.shape[1] == self.attention_res:
        h = SelfAttention(sn=self.sn, name="attention")(h, train)
    h = ResBlockDown(self.channels[-1], downsample=False, sn=self.sn,
                     name=f"block_{len(self.channels)}")(h, train)
    # A sum, not a mean (BigGAN): the logit's scale grows with the image's area.
    features = jnp.sum(nn.relu(h), axis=(1, 2))
    logits = SNDense(1, sn=self.sn, name="logit")(features, train)[:, 0]
    if self.num_classes:
      # A Dense without bias on one_hot(y) is an embedding that spectral norm covers.
      class_embedding = SNDense(features.shape[-1], use_bias=False, sn=self.sn,
                                name="projection")(
          jax.nn.one_hot(labels, self.num_classes, dtype=features.dtype), train)
      logits = logits + jnp.sum(class_embedding * features, axis=-1)
    return logits
