"""Gradient penalties on a discriminator / critic: WGAN-GP and R1.

`critic_fn(x)` maps a batch [B, ...] to logits of shape [B] or [B, 1]. Each
example's logit depends only on that example, so the gradient of the summed
logits w.r.t. the batch gives every per-example input gradient in one pass.
"""

from typing import Callable

import jax
import jax.numpy as jnp

CriticFn = Callable[[jax.Array], jax.Array]


def interpolation_weights(rng: jax.Array, batch_shape: tuple[int, ...]) -> jax.Array:
  """α ~ U(0, 1), one per example, shaped [B, 1, ..., 1] to broadcast over `batch_shape`.

  One α per EXAMPLE (Gulrajani et al., Alg. 1): a per-pixel α would sample
  points off the real–fake line segments the penalty is meant to constrain.
  """
  shape = (batch_shape[0],) + (1,) * (len(batch_shape) - 1)
  return jax.random.uniform(rng, shape, jnp.float32)


def _input_grads(critic_fn: CriticFn, x: jax.Array) -> jax.Array:
  return jax.grad(lambda v: jnp.sum(critic_fn(v)))(x)


def _per_example_sq_norm(g: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=-1)


def gradient_penalty(critic_fn: CriticFn, real: jax.Array, fake: jax.Array,
                     rng: jax.Array, target: float = 1.0,
                     return_alpha: bool = False):
  """WGAN-GP: E[(‖∇_x̂ f(x̂)‖₂ − target)²] at x̂ = α·real + (1 − α)·fake.

  Args:
    critic_fn: [B, ...] -> [B] or [B, 1] critic outputs.
    real: a real batch, [B, H, W, C] images or [B, D] points.
    fake: a generated batch of the same shape.
    rng: key for the per-example interpolation weights.
    target: the gradient norm the penalty pulls towards (1 for 1-Lipschitz).
    return_alpha: also return the α that was drawn (for inspection).

  Returns:
    The scalar penalty (unscaled: the caller multiplies by λ), and α when
    `return_alpha` is set.
  """
  alpha = interpolation_weights(rng, real.shape).astype(real.dtype)
  x_hat = alpha * real + (1.0 - alpha) * fake
  sq_norm = _per_example_sq_norm(_input_grads(critic_fn, x_hat))
  # The tiny epsilon keeps the sqrt differentiable where the gradient is zero.
  norm = jnp.sqrt(sq_norm + 1e-12)
  penalty = jnp.mean(jnp.square(norm - target))
  return (penalty, alpha) if return_alpha else penalty


def r1_penalty(critic_fn: CriticFn, real: jax.Array) -> jax.Array:
  """R1 (Mescheder et al. 2018): E_real[‖∇_x D(x)‖²], unscaled (the caller applies γ/2)."""
  return jnp.mean(_per_example_sq_norm(_input_grads(critic_fn, real)))
