"""ProGAN (Karras et al. 2018): G and D that grow from 4×4 to the image size, stage by stage.

Stage k works at 4·2^k px. Entering stage k adds one block to each network, faded in
by a traced `alpha` in [0, 1]: G's output is alpha·toRGB_k(h_k) + (1 − alpha)·
upsample(toRGB_{k−1}(h_{k−1})), D's input side mirrors it. G maps each toRGB to pixels
with a sigmoid before the fade, so images stay in [0, 1] (genlab's pixel convention)
at every alpha. Every layer uses the paper's equalized learning rate, G normalizes
its features per pixel, D ends with a minibatch-stddev feature.

Params are named so that a network's params at stage k are a superset (same names,
same shapes) of its params at stage k − 1: block_{j}_*, to_rgb_{j} / from_rgb_{j} for
every j ≤ k. Growing is `grow_params(old, init at stage k)`. The toRGB / fromRGB layers of
stages before k − 1 stay in the tree, unused, so that the superset holds at every k.
"""

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError
from genlab.models.gan import check_labels

_HE_GAIN = math.sqrt(2.0)  # for layers followed by leaky ReLU(0.2), as in the paper
_LEAK = 0.2


class EqualizedDense(nn.Module):
  """Dense layer with an equalized learning rate: kernel ~ N(0, 1), scaled at run time
  by gain/sqrt(fan_in), so Adam's per-parameter step sizes act alike on every layer."""

  features: int
  gain: float = _HE_GAIN
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param("kernel", nn.initializers.normal(1.0), (fan_in, self.features))
    y = x @ (kernel * (self.gain / math.sqrt(fan_in)))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class EqualizedConv(nn.Module):
  """Stride-1 square conv with an equalized learning rate (see EqualizedDense).

  padding: 'SAME' keeps H and W; 'VALID' is ProGAN's final 4×4 conv (4×4 -> 1×1).
  """

  features: int
  kernel_size: int = 3
  gain: float = _HE_GAIN
  padding: str = "SAME"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, fan_in = self.kernel_size, self.kernel_size ** 2 * x.shape[-1]
    kernel = self.param("kernel", nn.initializers.normal(1.0),
                        (k, k, x.shape[-1], self.features))
    y = jax.lax.conv_general_dilated(
        x, kernel * (self.gain / math.sqrt(fan_in)), (1, 1), self.padding,
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + self.param("bias", nn.initializers.zeros, (self.features,))


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  """x / sqrt(mean(x², channels) + eps): every pixel's feature vector at unit RMS,
  which keeps G's magnitudes from escalating in the G-D game (the paper's §4.2)."""
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def minibatch_stddev(x: jax.Array, group_size: int = 4) -> jax.Array:
  """x [B, H, W, C] -> [B, H, W, C + 1]: ProGAN's minibatch standard deviation.

  The batch splits into groups of G examples, G the largest divisor of B that is at
  most `group_size` (the paper's min(group_size, B) when that divides B; evaluation
  batches of any size still work); example b belongs to group b mod (B / G) (the
  paper's strided grouping). Per group: the std over its members of every feature and
  pixel, averaged into one number, appended as a constant channel to each member. D
  then sees how varied a batch is and can penalize a G that collapses onto few modes.
  """
  batch = x.shape[0]
  group = max(g for g in range(1, min(group_size, batch) + 1) if batch % g == 0)
  grouped = x.reshape(group, batch // group, *x.shape[1:]).astype(jnp.float32)
  variance = jnp.mean(jnp.square(grouped - jnp.mean(grouped, axis=0)), axis=0)
  stddev = jnp.mean(jnp.sqrt(variance + 1e-8), axis=(1, 2, 3))  # [B / G]
  feature = jnp.tile(stddev, group).astype(x.dtype)[:, None, None, None]
  return jnp.concatenate([x, jnp.broadcast_to(feature, (*x.shape[:3], 1))], axis=-1)


def upsample2(x: jax.Array) -> jax.Array:
  """Nearest-neighbour 2× upsampling of NHWC maps (no transposed conv: slow on XLA:CPU)."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c)).reshape(
      b, 2 * h, 2 * w, c)


def avg_pool(x: jax.Array, factor: int) -> jax.Array:
  """Mean over factor×factor tiles of NHWC maps (a reshape: cheap to differentiate)."""
  if factor == 1:
    return x
  b, h, w, c = x.shape
  return jnp.mean(x.reshape(b, h // factor, factor, w // factor, factor, c), axis=(2, 4))


def stage_size(stage: int) -> int:
  """Image side at `stage`: 4·2^stage px."""
  return 4 * 2 ** stage


def num_stages(image_size: int) -> int:
  """Stages needed to reach `image_size` from 4×4 (1 + log2(size / 4)).

  Raises:
    UserError: when the size is not 4·2^k.
  """
  stages = round(math.log2(image_size / 4)) + 1 if image_size >= 4 else 0
  if stages < 1 or stage_size(stages - 1) != image_size:
    raise UserError(f"ProGAN needs square images of 4·2^k px; got {image_size}")
  return stages


def downscale(images: jax.Array, stage: int, full_size: int) -> jax.Array:
  """Real images [B, full_size, full_size, C] as D sees them at `stage` (average pooling)."""
  if images.shape[1:3] != (full_size, full_size):
    raise ValueError(f"downscale: images are {images.shape[1]}×{images.shape[2]}, "
                     f"expected {full_size}×{full_size}")
  size = stage_size(stage)
  if full_size % size:
    raise ValueError(f"downscale: stage {stage} ({size} px) is above {full_size} px")
  return avg_pool(images, full_size // size)


def grow_params(old: Any, new: Any) -> Any:
  """`new` (params initialized at the larger stage) with every leaf of `old` copied in.

  Raises:
    ValueError: when `old` has a leaf that `new` lacks, or one of another shape.
  """
  old_leaves = dict(jax.tree_util.tree_flatten_with_path(old)[0])
  new_leaves = dict(jax.tree_util.tree_flatten_with_path(new)[0])
  for path, leaf in old_leaves.items():
    name = jax.tree_util.keystr(path)
    if path not in new_leaves:
      raise ValueError(f"grow_params: {name} is not in the grown params")
    if jnp.shape(leaf) != jnp.shape(new_leaves[path]):
      raise ValueError(f"grow_params: {name} has shape {jnp.shape(leaf)}, "
                       f"the grown params {jnp.shape(new_leaves[path])}")
  return jax.tree_util.tree_map_with_path(lambda p, leaf: old_leaves.get(p, leaf), new)


def _check_stage(stage: int, channels: Sequence[int]) -> None:
  if not 0 <= stage < len(channels):
    raise ValueError(f"stage {stage} outside 0..{len(channels) - 1} "
                     f"(one stage per entry of channels={tuple(channels)})")


def _conv_act(features: int, name: str, normalize: bool):
  conv = EqualizedConv(features, 3, name=name)
  def apply(h):
    h = nn.leaky_relu(conv(h), _LEAK)
    return pixel_norm(h) if normalize else h
  return apply


class ProGANGenerator(nn.Module):
  """z [B, latent_size] (+ label) -> images [B, S, S, C] in [0, 1], S = 4·2^stage.

  Attributes:
    image_shape: (H, W, C) at the last stage; H = W = 4·2^(len(channels) − 1).
    latent_size: z's dimension.
    channels: widths per resolution from 4×4 up, e.g. (128, 128, 64, 32) for 4..32 px.
    num_classes: > 0 for a class-conditional G (one-hot label appended to z).

  Params: block_0_dense, block_0_conv, block_{k}_conv_0 and block_{k}_conv_1 for
  1 ≤ k ≤ stage, to_rgb_{k} for k ≤ stage; each {kernel, bias}.
  """

  image_shape: Sequence[int]
  latent_size: int = 128
  channels: Sequence[int] = (128, 128, 64, 32)
  num_classes: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False,
               stage: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    """stage: a Python int (None: the last); alpha: the newest block's fade-in weight."""
    del train  # no batch norm or dropout
    height, width, image_channels = self.image_shape
    if height != width or num_stages(height) != len(self.channels):
      raise UserError(f"ProGAN G: image {height}×{width} needs 4·2^(len(channels) − 1) px "
                      f"square; channels={tuple(self.channels)}")
    stage = len(self.channels) - 1 if stage is None else stage
    _check_stage(stage, self.channels)
    if z.shape[-1] != self.latent_size:
      raise ValueError(f"z has {z.shape[-1]} dimensions; the generator expects "
                       f"latent_size={self.latent_size}")
    check_labels(labels, self.num_classes)
    # The label is appended after z's normalization, so its weight in the first layer
    # does not shrink or grow with |z|.
    h = pixel_norm(z)
    if self.num_classes:
      h = jnp.concatenate([h, jax.nn.one_hot(labels, self.num_classes, dtype=h.dtype)], -1)
    base = self.channels[0]
    # gain √2/4: the paper's 4×4 'transposed conv' on a 1×1 input, written as a dense layer.
    h = EqualizedDense(16 * base, gain=_HE_GAIN / 4, name="block_0_dense")(h)
    h = pixel_norm(nn.leaky_relu(h.reshape(z.shape[0], 4, 4, base), _LEAK))
    h = _conv_act(base, "block_0_conv", normalize=True)(h)
    previous = h  # the features toRGB_{stage−1} reads, for the fade
    for k in range(1, stage + 1):
      previous = h
      h = upsample2(h)
      h = _conv_act(self.channels[k], f"block_{k}_conv_0", normalize=True)(h)
      h = _conv_act(self.channels[k], f"block_{k}_conv_1", normalize=True)(h)
    to_rgb = lambda k: EqualizedConv(image_channels, 1, gain=1.0, name=f"to_rgb_{k}")
    if self.is_initializing():
      # Unused at this stage; created so that params at stage k ⊇ those at k − 1.
      for k in range(stage - 1):
        to_rgb(k)(jnp.zeros((1, 1, 1, self.channels[k])))
    images = nn.sigmoid(to_rgb(stage)(h))
    if stage == 0:
      return images
    coarse = upsample2(nn.sigmoid(to_rgb(stage - 1)(previous)))
    return alpha * images + (1 - alpha) * coarse


class ProGANDiscriminator(nn.Module):
  """images [B, S, S, C] (+ label) -> logits [B], S = 4·2^stage.

  Attributes:
    channels: widths per resolution from 4×4 up (the generator's, typically).
    num_classes: > 0 for a class-conditional D (a projection term <embed(y), h>,
      Miyato & Koyama 2018).
    stddev_group_size: minibatch_stddev's group size; must divide the batch size
      (or exceed it).

  Params: from_rgb_{k} for k ≤ stage, block_{k}_conv_0 and block_{k}_conv_1 for
  1 ≤ k ≤ stage, block_0_conv, block_0_conv_4x4, block_0_dense; each {kernel, bias};
  and class_embedding [num_classes, channels[0]] when conditional.
  """

  channels: Sequence[int] = (128, 128, 64, 32)
  num_classes: int = 0
  stddev_group_size: int = 4

  @nn.compact
  def __call__(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False,
               stage: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    """stage: a Python int (None: read from x's size); alpha: the newest block's weight."""
    del train
    check_labels(labels, self.num_classes)
    stage = num_stages(x.shape[1]) - 1 if stage is None else stage
    _check_stage(stage, self.channels)
    if x.shape[1:3] != (stage_size(stage),) * 2:
      raise ValueError(f"ProGAN D at stage {stage} takes {stage_size(stage)}-px images; "
                       f"got {x.shape[1]}×{x.shape[2]}")
    from_rgb = lambda k: EqualizedConv(self.channels[k], 1, name=f"from_rgb_{k}")
    if self.is_initializing():
      # Unused at this stage; created so that params at stage k ⊇ those at k − 1.
      for k in range(stage - 1):
        from_rgb(k)(jnp.zeros((1, 1, 1, x.shape[-1])))
    h = nn.leaky_relu(from_rgb(stage)(x), _LEAK)
    for k in range(stage, 0, -1):
      h = _conv_act(self.channels[k], f"block_{k}_conv_0", normalize=False)(h)
      h = _conv_act(self.channels[k - 1], f"block_{k}_conv_1", normalize=False)(h)
      h = avg_pool(h, 2)
      if k == stage:
        coarse = nn.leaky_relu(from_rgb(stage - 1)(avg_pool(x, 2)), _LEAK)
        h = alpha * h + (1 - alpha) * coarse
    base = self.channels[0]
    h = minibatch_stddev(h, self.stddev_group_size)
    h = _conv_act(base, "block_0_conv", normalize=False)(h)
    h = nn.leaky_relu(EqualizedConv(base, 4, padding="VALID", name="block_0_conv_4x4")(h),
                      _LEAK).reshape(x.shape[0], base)
    logits = EqualizedDense(1, gain=1.0, name="block_0_dense")(h)[:, 0]
    if self.num_classes:
      # N(0, 1) rows scaled by 1/sqrt(width): the equalized-lr analogue of nn.Embed.
      embedding = self.param("class_embedding", nn.initializers.normal(1.0),
                             (self.num_classes, base))
      logits = logits + jnp.sum(embedding[labels] * h, axis=-1) / math.sqrt(base)
    return logits


class GrowingGAN(nn.Module):
  """A growing generator and discriminator under one module (cf. gan.GAN).

  `stage` (a Python int: static under jit) and `alpha` (traced) pass through to both
  networks. Their variables live under 'generator' and 'discriminator'.
  """

  generator: nn.Module
  discriminator: nn.Module

  def generate(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False,
               stage: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    return self.generator(z, labels, train, stage=stage, alpha=alpha)

  def discriminate(self, x: jax.Array, labels: jax.Array | None = None, train: bool = False,
                   stage: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    return self.discriminator(x, labels, train, stage=stage, alpha=alpha)

  def __call__(self, z: jax.Array, labels: jax.Array | None = None, train: bool = False,
               stage: int | None = None, alpha: float | jax.Array = 1.0) -> jax.Array:
    images = self.generate(z, labels, train, stage, alpha)
    return self.discriminate(images, labels, train, stage, alpha)
