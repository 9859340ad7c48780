"""Adversarial losses on discriminator logits, as (d_loss, g_loss) pairs.

Every loss takes raw discriminator outputs (logits for the classifier games,
unbounded critic values for Wasserstein / hinge / least squares) and returns a
scalar averaged over the batch. Both members of a pair are to be MINIMIZED by
their player: `d_loss(real_logits, fake_logits)` by the discriminator,
`g_loss(fake_logits)` by the generator.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from genlab.registry import Registry


class AdversarialLoss(NamedTuple):
  """A discriminator loss and the generator loss that plays against it."""
  d_loss: Callable[[jax.Array, jax.Array], jax.Array]
  g_loss: Callable[[jax.Array], jax.Array]


# ------------------------------------------------------------------ minimax


def minimax_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """−[log D(x) + log(1 − D(G(z)))], the original GAN discriminator loss.

  log-sigmoid keeps it finite for confident logits, where log(sigmoid(l))
  would underflow to log(0).
  """
  return -(jnp.mean(jax.nn.log_sigmoid(real_logits))
           + jnp.mean(jax.nn.log_sigmoid(-fake_logits)))


def minimax_g_loss(fake_logits: jax.Array) -> jax.Array:
  """log(1 − D(G(z))): the saturating generator loss of the minimax game.

  Its gradient w.r.t. a fake logit is −sigmoid(l), which vanishes exactly when
  the discriminator confidently rejects the fakes (early in training).
  """
  return jnp.mean(jax.nn.log_sigmoid(-fake_logits))


# ----------------------------------------------------------- non-saturating


def non_saturating_g_loss(fake_logits: jax.Array) -> jax.Array:
  """−log D(G(z)): same fixed point as minimax, but a gradient of −(1 − sigmoid(l))
  that is strongest when the discriminator rejects the fakes."""
  return -jnp.mean(jax.nn.log_sigmoid(fake_logits))


# --------------------------------------------------------------- wasserstein


def wasserstein_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """E[f(G(z))] − E[f(x)]: negative when the critic scores real above fake.

  Only a Wasserstein estimate under a Lipschitz constraint (clipping or a
  gradient penalty) that the caller must supply.
  """
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_g_loss(fake_logits: jax.Array) -> jax.Array:
  """−E[f(G(z))]."""
  return -jnp.mean(fake_logits)


# --------------------------------------------------------------------- hinge


def hinge_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """E[relu(1 − f(x))] + E[relu(1 + f(G(z)))]: zero once the margin is met."""
  return (jnp.mean(jax.nn.relu(1.0 - real_logits))
          + jnp.mean(jax.nn.relu(1.0 + fake_logits)))


def hinge_g_loss(fake_logits: jax.Array) -> jax.Array:
  """−E[f(G(z))], as in SAGAN / BigGAN."""
  return -jnp.mean(fake_logits)


# ------------------------------------------------------------- least squares


def least_squares_d_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """LSGAN with a=0, b=1: ½E[(D(x) − 1)²] + ½E[D(G(z))²] on raw outputs."""
  return (0.5 * jnp.mean(jnp.square(real_logits - 1.0))
          + 0.5 * jnp.mean(jnp.square(fake_logits)))


def least_squares_g_loss(fake_logits: jax.Array) -> jax.Array:
  """LSGAN with c=1: ½E[(D(G(z)) − 1)²]."""
  return 0.5 * jnp.mean(jnp.square(fake_logits - 1.0))


# ------------------------------------------------------------------ registry

MINIMAX = AdversarialLoss(minimax_d_loss, minimax_g_loss)
# The discriminator's game is unchanged; only the generator's objective flips.
NON_SATURATING = AdversarialLoss(minimax_d_loss, non_saturating_g_loss)
WASSERSTEIN = AdversarialLoss(wasserstein_d_loss, wasserstein_g_loss)
HINGE = AdversarialLoss(hinge_d_loss, hinge_g_loss)
LEAST_SQUARES = AdversarialLoss(least_squares_d_loss, least_squares_g_loss)

ADVERSARIAL_LOSSES: Registry[AdversarialLoss] = Registry("adversarial loss")
ADVERSARIAL_LOSSES.register("minimax", MINIMAX)
ADVERSARIAL_LOSSES.register("non_saturating", NON_SATURATING)
ADVERSARIAL_LOSSES.register("ns", NON_SATURATING)
ADVERSARIAL_LOSSES.register("wasserstein", WASSERSTEIN)
ADVERSARIAL_LOSSES.register("hinge", HINGE)
ADVERSARIAL_LOSSES.register("least_squares", LEAST_SQUARES)


# ------------------------------------------------------------------ metrics


def discriminator_accuracy(real_logits: jax.Array, fake_logits: jax.Array,
                           threshold: float = 0.0) -> jax.Array:
  """Mean of the real-called-real and fake-called-fake rates.

  Averaging the two rates (rather than pooling) keeps the metric balanced when
  the real and fake batches differ in size. 0.5 means chance; 1.0 means the
  discriminator wins outright.
  """
  real_acc = jnp.mean((real_logits > threshold).astype(jnp.float32))
  fake_acc = jnp.mean((fake_logits <= threshold).astype(jnp.float32))
  return 0.5 * (real_acc + fake_acc)
