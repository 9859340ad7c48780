"""Closed-form divergences used as penalties."""

import jax
import jax.numpy as jnp


def bernoulli_kl(rho: float, rho_hat: jax.Array, eps: float = 1e-6) -> jax.Array:
  """KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂)) elementwise: the sparse-AE penalty per unit."""
  rho_hat = jnp.clip(rho_hat, eps, 1.0 - eps)
  return rho * jnp.log(rho / rho_hat) + (1.0 - rho) * jnp.log((1.0 - rho) / (1.0 - rho_hat))


def gaussian_kl(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(μ, σ²) ‖ N(0, I)) summed over the last axis."""
  return 0.5 * jnp.sum(jnp.exp(logvar) + jnp.square(mean) - 1.0 - logvar, axis=-1)
