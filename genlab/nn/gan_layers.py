"""Layers of the ResNet GANs (SAGAN, BigGAN): spectral norm, self-attention,
conditional batch norm and residual up/down blocks.

Every layer takes `train`: in train mode spectral norm runs one power iteration and
stores it, batch norm uses and stores batch statistics; in eval mode both use what is
stored and change nothing. Collections: "spectral" (power-iteration vectors u, v of
every spectrally normalized kernel) and "batch_stats".

Resampling is reshape-based (nearest 2× upsampling, 2×2 pooling) and every conv has
stride 1: strided and transposed convs are slow to differentiate on XLA:CPU
(../shared/FACTS.md), and a gradient penalty differentiates D twice.
"""

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genlab.errors import UserError

SPECTRAL = "spectral"
# PyTorch's BatchNorm momentum 0.1 (flax counts the other way).
BN_MOMENTUM = 0.9
# Names of ConditionalBatchNorm's projections of the condition: they make gains and
# shifts, not features, so BigGAN's orthogonal penalty leaves them out.
CONDITION_PROJECTIONS = ("cond_gain", "cond_bias")

Initializer = Callable[..., jax.Array]
# BigGAN's 'ortho' init: a spectrally normalized orthogonal kernel starts as itself.
default_kernel_init = nn.initializers.orthogonal()


def _l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  # rsqrt(|x|² + eps) maps a zero vector to zero instead of NaN.
  return x * jax.lax.rsqrt(jnp.sum(jnp.square(x)) + eps)


def spectral_normalize(module: nn.Module, kernel: jax.Array, update: bool) -> jax.Array:
  """kernel / σ, σ the top singular value of kernel as a [fan_in, out] matrix W.

  σ = vᵀ W u for the power-iteration estimates u [out] and v [fan_in] of the top
  singular vectors, kept in `module`'s "spectral" collection. With `update`, one power
  iteration from the stored u gives new u, v, which are used and stored (Miyato et al.
  2018); without, the stored u, v are used as they are (PyTorch's eval mode), so the
  estimate follows W's current value without changing state. No gradient flows
  through u and v.

  Args:
    module: the module that owns the kernel (inside its compact method).
    kernel: [..., out], e.g. a Dense [in, out] or conv [kh, kw, in, out] kernel.
    update: run and store one power iteration (train mode).

  Returns:
    The normalized kernel, of kernel's shape.
  """
  matrix = kernel.reshape(-1, kernel.shape[-1])
  u = module.variable(SPECTRAL, "u", lambda: _l2_normalize(
      jax.random.normal(module.make_rng("params"), (matrix.shape[1],), matrix.dtype)))
  # v from u rather than at random, so that σ = |W u| > 0 before any iteration.
  v = module.variable(SPECTRAL, "v", lambda: _l2_normalize(matrix @ u.value))
  if update:
    new_v = jax.lax.stop_gradient(_l2_normalize(matrix @ u.value))
    u.value = jax.lax.stop_gradient(_l2_normalize(matrix.T @ new_v))
    v.value = new_v
  sigma = v.value @ matrix @ u.value
  # σ = 0 only for a zero kernel, which stays zero either way.
  return kernel / jnp.where(sigma > 0, sigma, 1.0)


class SNDense(nn.Module):
  """A Dense layer whose kernel is spectrally normalized (unless `sn` is False).

  On a one-hot input with use_bias=False it is a (spectrally normalized) embedding.
  """

  features: int
  use_bias: bool = True
  sn: bool = True
  kernel_init: Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
    if self.sn:
      kernel = spectral_normalize(self, kernel, update=train)
    y = x @ kernel
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class SNConv(nn.Module):
  """A stride-1 'SAME' k×k conv (NHWC), its kernel spectrally normalized unless not `sn`."""

  features: int
  kernel_size: int = 3
  use_bias: bool = True
  sn: bool = True
  kernel_init: Initializer = default_kernel_init

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
    if self.sn:
      kernel = spectral_normalize(self, kernel, update=train)
    if k == 1:  # a per-pixel matmul: XLA:CPU runs it as one dot
      y = x @ kernel[0, 0]
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


def upsample_nearest(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C], each pixel repeated 2×2 (its gradient: a 2×2 sum)."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None], (b, h, 2, w, 2, c)).reshape(b, 2 * h, 2 * w, c)


def _windows_2x2(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, ⌈H/2⌉, 2, ⌈W/2⌉, 2, C]. An odd side is padded with copies of
  its last row/column, which makes the mean and max those of the real pixels of a
  window (pooling with 'SAME' padding that ignores the pad)."""
  pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
  if pad_h or pad_w:
    x = jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c)


def avg_pool_2x2(x: jax.Array) -> jax.Array:
  """2×2 average pooling with stride 2: [B, H, W, C] -> [B, ⌈H/2⌉, ⌈W/2⌉, C]."""
  return jnp.mean(_windows_2x2(x), axis=(2, 4))


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2×2 max pooling with stride 2: [B, H, W, C] -> [B, ⌈H/2⌉, ⌈W/2⌉, C]."""
  return jnp.max(_windows_2x2(x), axis=(2, 4))


class SelfAttention(nn.Module):
  """SAGAN's self-attention (Zhang et al. 2019) with BigGAN's savings: x + γ·o.

  Queries f(x) and keys g(x) have C/8 channels, values h(x) C/2; keys and values are
  2×2 max-pooled (4× fewer keys). o is a 1×1 conv back to C of the softmax-weighted
  values. γ starts at 0, so the block starts as the identity and the network learns
  how much non-local evidence to use. No biases, as BigGAN's.

  The attention map [B, N_query, N_key] (N = H·W, N_key = ⌈H/2⌉·⌈W/2⌉) is sown as
  ('intermediates', 'attention'): `apply(..., mutable=['intermediates'])` returns it.
  """

  sn: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    b, h, w, c = x.shape
    small, half = max(c // 8, 1), max(c // 2, 1)
    conv = lambda features, name: SNConv(features, 1, use_bias=False, sn=self.sn, name=name)
    query = conv(small, "query")(x, train).reshape(b, h * w, small)
    key = max_pool_2x2(conv(small, "key")(x, train)).reshape(b, -1, small)
    value = max_pool_2x2(conv(half, "value")(x, train)).reshape(b, -1, half)
    attention = jax.nn.softmax(query @ key.transpose(0, 2, 1), axis=-1)
    self.sow("intermediates", "attention", attention)
    out = conv(c, "out")((attention @ value).reshape(b, h, w, half), train)
    gamma = self.param("gamma", nn.initializers.zeros, ())
    return x + gamma * out


class ConditionalBatchNorm(nn.Module):
  """Batch norm whose scale and shift come from a condition c [B, D]:
  (1 + gain(c)) · BN(x) + bias(c).

  gain and bias are Dense layers (biases zero) whose kernels start as PyTorch's
  Linear does, uniform in ±1/sqrt(fan_in), as in BigGAN's code: every class (and z
  chunk) gets its own scales and shifts from the first step. Zero kernels (a start as
  plain batch norm) were measured to leave the condition unused for too long:
  `sagan.py` at 1,000 steps, 0.13 class accuracy. SAGAN passes c = one_hot(label) (the
  Dense is then a per-class embedding), BigGAN concat(shared class embedding, z chunk).
  With c = None it is plain batch norm with its own learned scale and shift.

  The projections are not spectrally normalized (BigGAN normalizes them): they make
  gains and shifts, not features, and their scale is the conditioning's strength.
  """

  features: int

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    if x.shape[-1] != self.features:
      raise ValueError(f"ConditionalBatchNorm({self.features}) got {x.shape[-1]} channels")
    plain = condition is None
    x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM, use_scale=plain,
                     use_bias=plain, name="bn")(x)
    if plain:
      return x
    torch_linear = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
    project = lambda name: nn.Dense(self.features, kernel_init=torch_linear,
                                    name=name)(condition)
    gain, bias = (project(name) for name in CONDITION_PROJECTIONS)
    broadcast = (x.shape[0],) + (1,) * (x.ndim - 2) + (self.features,)
    return (1 + gain.reshape(broadcast)) * x + bias.reshape(broadcast)


class ResBlockUp(nn.Module):
  """G's block (BigGAN): CBN → ReLU → 2× nearest upsample → conv3×3 → CBN → ReLU →
  conv3×3, plus a shortcut upsample → conv1×1. [B, H, W, C] -> [B, 2H, 2W, features]."""

  features: int
  sn: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, condition: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    conv = lambda k, name: SNConv(self.features, k, sn=self.sn, name=name)
    h = nn.relu(ConditionalBatchNorm(x.shape[-1], name="cbn_0")(x, condition, train))
    h = conv(3, "conv_0")(upsample_nearest(h), train)
    h = nn.relu(ConditionalBatchNorm(self.features, name="cbn_1")(h, condition, train))
    h = conv(3, "conv_1")(h, train)
    # A 1×1 conv commutes with nearest upsampling: convolving first is 4× cheaper.
    return h + upsample_nearest(conv(1, "shortcut")(x, train))


class ResBlockDown(nn.Module):
  """D's block (BigGAN): [ReLU →] conv3×3 → ReLU → conv3×3 → 2×2 avg-pool, plus a
  shortcut conv1×1 → avg-pool. [B, H, W, C] -> [B, ⌈H/2⌉, ⌈W/2⌉, features].

  Attributes:
    features: output channels.
    preactivation: start with a ReLU; False for D's first block (the "optimized
      block" of Miyato et al.), whose input is the image.
    downsample: False keeps the resolution (the block after the last downsampler);
      the shortcut is then the identity when the channels match.
    sn: spectral norm on every conv.
  """

  features: int
  preactivation: bool = True
  downsample: bool = True
  sn: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    conv = lambda k, name: SNConv(self.features, k, sn=self.sn, name=name)
    h = nn.relu(x) if self.preactivation else x
    h = conv(3, "conv_1")(nn.relu(conv(3, "conv_0")(h, train)), train)
    shortcut = x
    if self.downsample:
      h, shortcut = avg_pool_2x2(h), avg_pool_2x2(x)
    if self.downsample or x.shape[-1] != self.features:
      # A 1×1 conv commutes with average pooling: pooling first is 4× cheaper.
      shortcut = conv(1, "shortcut")(shortcut, train)
    return h + shortcut


def check_attention_res(attention_res: int, resolutions: Sequence[int], network: str) -> None:
  """Raises a UserError unless attention_res is 0 (none) or a block's output resolution."""
  if attention_res and attention_res not in resolutions:
    raise UserError(f"attention_res={attention_res} is not an output resolution of the "
                     f"{network}'s blocks {tuple(resolutions)} (0 = no attention)")
