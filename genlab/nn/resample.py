"""Stride-2 convolutions whose gradients are fast on XLA:CPU (DCGAN's G and D layers).

PyTorch's ConvTranspose2d(C, F, 4, stride=2, padding=1), DCGAN's generator layer, is
the adjoint of a stride-2 convolution F -> C. XLA:CPU runs its forward pass fast but
differentiates its kernel through a dilated convolution ~13× slower than the rest of
the layer (measured: 403 vs 30 ms for the gradient of 128 -> 64 channels, 7 -> 14 px,
batch 64, one core). The adjoint identity gives both gradients as strided-conv
primitives XLA:CPU runs at full speed:
    y = Aᵀx with A = conv_stride2(·, K)   =>   dL/dx = A g = conv_stride2(g, K),
    dL/dK = ∂/∂K <x, conv_stride2(g, K)>  (a strided conv's own weight gradient).
`conv_transpose_s2` hand-writes that VJP; the function is unchanged (exact).

The same slow path returns in second derivatives of a strided conv (a gradient penalty
or R1 differentiates D's input gradient with respect to D's kernels): `conv_down_s2`
is `conv_s2` whose input gradient is `conv_transpose_s2`, so differentiating it again
stays on fast primitives (measured: 93 vs 796 ms for a penalty's gradient through one
64 -> 128 channel layer, batch 64, one core).
"""

import flax.linen as nn
import jax

_DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def conv_s2(y: jax.Array, kernel: jax.Array) -> jax.Array:
  """4×4, stride-2, padding-1 convolution: y [B, 2H, 2W, F], kernel [4, 4, F, C] -> [B, H, W, C]."""
  return jax.lax.conv_general_dilated(y, kernel, (2, 2), ((1, 1), (1, 1)),
                                      dimension_numbers=_DIMENSIONS)


def _adjoint(x: jax.Array, kernel: jax.Array) -> jax.Array:
  b, h, w, _ = x.shape
  out = jax.ShapeDtypeStruct((b, 2 * h, 2 * w, kernel.shape[2]), x.dtype)
  return jax.linear_transpose(lambda y: conv_s2(y, kernel), out)(x)[0]


@jax.custom_vjp
def conv_transpose_s2(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The adjoint of `conv_s2(·, kernel)`: x [B, H, W, C] -> [B, 2H, 2W, F].

  Equals PyTorch's ConvTranspose2d(C, F, 4, 2, 1) with weight[c, f, i, j] =
  kernel[i, j, f, c]; its VJP uses strided-conv primitives only (module docstring).
  """
  return _adjoint(x, kernel)


def _fwd(x, kernel):
  return _adjoint(x, kernel), (x, kernel)


def _bwd(residuals, g):
  x, kernel = residuals
  _, kernel_vjp = jax.vjp(lambda k: conv_s2(g, k), kernel)
  return conv_s2(g, kernel), kernel_vjp(x)[0]


conv_transpose_s2.defvjp(_fwd, _bwd)


@jax.custom_vjp
def conv_down_s2(y: jax.Array, kernel: jax.Array) -> jax.Array:
  """`conv_s2` (4×4, stride 2, padding 1) with a VJP that is fast to differentiate again."""
  return conv_s2(y, kernel)


def _down_fwd(y, kernel):
  return conv_s2(y, kernel), (y, kernel)


def _down_bwd(residuals, g):
  y, kernel = residuals
  if y.shape[1] % 2 or y.shape[2] % 2:
    # The transposed conv maps an n-pixel output back to 2n pixels: an odd input
    # (7 -> 3 in a 3-layer D on 28×28) takes autodiff's VJP instead.
    return jax.vjp(conv_s2, y, kernel)[1](g)
  _, kernel_vjp = jax.vjp(lambda k: conv_s2(y, k), kernel)
  return conv_transpose_s2(g, kernel), kernel_vjp(g)[0]


conv_down_s2.defvjp(_down_fwd, _down_bwd)


class ConvDownsample(nn.Module):
  """2× downsampling, DCGAN's D layer: a 4×4, stride-2, padding-1 conv (`conv_down_s2`).

  `kernel` is [4, 4, C_in, features], nn.Conv's layout.
  """

  features: int
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1],
                                                                   self.features))
    y = conv_down_s2(x, kernel)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class ConvTransposeUpsample(nn.Module):
  """2× upsampling, exactly DCGAN's 4×4 stride-2 transposed conv, fast to train on CPU.

  `kernel` is [4, 4, features, C_in]: the kernel of the stride-2 conv this layer is
  the adjoint of (PyTorch's ConvTranspose2d weight, transposed to HWIO of that conv).
  """

  features: int
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    # Each output pixel sees 2×2 of the 4×4 taps: fan-in 4·C_in, not 16·C_in.
    init = nn.initializers.variance_scaling(4.0, "fan_in", "truncated_normal",
                                            in_axis=(0, 1, 3), out_axis=2)
    kernel = self.param("kernel", init, (4, 4, self.features, x.shape[-1]))
    y = conv_transpose_s2(x, kernel)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y
