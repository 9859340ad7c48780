"""Adversarial losses and discriminator penalties against their closed forms."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genlab.losses import (ADVERSARIAL_LOSSES, AdversarialLoss, discriminator_accuracy,
                           gradient_penalty, interpolation_weights, r1_penalty)
from genlab.registry import UnknownNameError

# Hand-picked logits: confident, borderline and wrong calls on both sides.
REAL = np.array([3.0, 0.5, -1.0, 0.0, 2.0], np.float32)
FAKE = np.array([-2.0, 0.3, 1.5, -0.7], np.float32)


def _loss(name: str) -> AdversarialLoss:
  return ADVERSARIAL_LOSSES.get(name)


# ----------------------------------------------------------- closed forms


def test_minimax_against_formula():
  d_expected = -(np.mean(np.log(1 / (1 + np.exp(-REAL))))
                 + np.mean(np.log(1 - 1 / (1 + np.exp(-FAKE)))))
  g_expected = np.mean(np.log(1 - 1 / (1 + np.exp(-FAKE))))
  loss = _loss("minimax")
  assert float(loss.d_loss(REAL, FAKE)) == pytest.approx(d_expected, rel=1e-5)
  assert float(loss.g_loss(FAKE)) == pytest.approx(g_expected, rel=1e-5)


@pytest.mark.parametrize("name", ["non_saturating", "ns"])
def test_non_saturating_against_formula(name):
  g_expected = -np.mean(np.log(1 / (1 + np.exp(-FAKE))))
  assert float(_loss(name).g_loss(FAKE)) == pytest.approx(g_expected, rel=1e-5)


def test_wasserstein_against_formula():
  loss = _loss("wasserstein")
  assert float(loss.d_loss(REAL, FAKE)) == pytest.approx(FAKE.mean() - REAL.mean(), rel=1e-5)
  assert float(loss.g_loss(FAKE)) == pytest.approx(-FAKE.mean(), rel=1e-5)


def test_hinge_against_formula():
  loss = _loss("hinge")
  d_expected = np.maximum(0, 1 - REAL).mean() + np.maximum(0, 1 + FAKE).mean()
  assert float(loss.d_loss(REAL, FAKE)) == pytest.approx(d_expected, rel=1e-5)
  assert float(loss.g_loss(FAKE)) == pytest.approx(-FAKE.mean(), rel=1e-5)


def test_least_squares_against_formula():
  loss = _loss("least_squares")
  d_expected = 0.5 * ((REAL - 1) ** 2).mean() + 0.5 * (FAKE ** 2).mean()
  assert float(loss.d_loss(REAL, FAKE)) == pytest.approx(d_expected, rel=1e-5)
  assert float(loss.g_loss(FAKE)) == pytest.approx(0.5 * ((FAKE - 1) ** 2).mean(), rel=1e-5)
  # The optimum of each player: D outputs 1 on real and 0 on fake; G makes D output 1.
  assert float(loss.d_loss(jnp.ones(3), jnp.zeros(3))) == 0.0
  assert float(loss.g_loss(jnp.ones(3))) == 0.0


@pytest.mark.parametrize("name", ADVERSARIAL_LOSSES.names())
def test_losses_are_scalars_and_accept_column_logits(name):
  loss = _loss(name)
  d_flat, g_flat = loss.d_loss(REAL, FAKE), loss.g_loss(FAKE)
  d_col, g_col = loss.d_loss(REAL[:, None], FAKE[:, None]), loss.g_loss(FAKE[:, None])
  assert d_flat.shape == g_flat.shape == ()
  assert float(d_col) == pytest.approx(float(d_flat), rel=1e-6)
  assert float(g_col) == pytest.approx(float(g_flat), rel=1e-6)


def test_minimax_finite_for_confident_logits():
  big = jnp.asarray([200.0, -200.0])
  for name in ("minimax", "ns"):
    loss = _loss(name)
    assert bool(jnp.isfinite(loss.d_loss(big, -big)))
    assert bool(jnp.isfinite(loss.g_loss(big)))


# ------------------------------------------------- minimax vs non-saturating


def test_minimax_and_ns_share_d_loss():
  assert _loss("minimax").d_loss is _loss("ns").d_loss
  assert float(_loss("minimax").d_loss(REAL, FAKE)) == float(_loss("ns").d_loss(REAL, FAKE))


def test_minimax_generator_gradient_vanishes_when_d_rejects_fakes():
  # One fake, confidently rejected: D(G(z)) = sigmoid(−10) ≈ 4.5e-5.
  fake = jnp.asarray([-10.0])
  g_minimax = float(jax.grad(_loss("minimax").g_loss)(fake)[0])
  g_ns = float(jax.grad(_loss("ns").g_loss)(fake)[0])
  # d/dl log(1 − σ(l)) = −σ(l) ≈ 0; d/dl −log σ(l) = −(1 − σ(l)) ≈ −1.
  assert g_minimax == pytest.approx(-1 / (1 + math.exp(10)), rel=1e-3)
  assert abs(g_minimax) < 1e-4
  assert g_ns == pytest.approx(-1.0, abs=1e-4)
  # Once D is fooled the roles swap: the saturating loss is then the strong one.
  fooled = jnp.asarray([10.0])
  assert float(jax.grad(_loss("minimax").g_loss)(fooled)[0]) == pytest.approx(-1.0, abs=1e-4)
  assert abs(float(jax.grad(_loss("ns").g_loss)(fooled)[0])) < 1e-4


# ---------------------------------------------------------- sign conventions


def test_wasserstein_critic_scoring_real_higher_gives_negative_d_loss():
  real, fake = jnp.asarray([2.0, 3.0, 1.5]), jnp.asarray([-1.0, 0.5, 0.0])
  assert float(_loss("wasserstein").d_loss(real, fake)) < 0
  assert float(_loss("wasserstein").d_loss(fake, real)) > 0


def test_hinge_zero_once_margin_met():
  loss = _loss("hinge")
  assert float(loss.d_loss(jnp.asarray([1.0, 4.0]), jnp.asarray([-1.0, -3.0]))) == 0.0
  # Inside the margin the loss is positive even when the call is right.
  assert float(loss.d_loss(jnp.asarray([0.5]), jnp.asarray([-1.0]))) == pytest.approx(0.5)


def test_discriminator_accuracy():
  # REAL: 3 of 5 above 0; FAKE: 2 of 4 at or below 0.
  assert float(discriminator_accuracy(REAL, FAKE)) == pytest.approx(0.5 * (3 / 5 + 2 / 4))
  assert float(discriminator_accuracy(REAL, FAKE, threshold=1.0)) == pytest.approx(
      0.5 * (2 / 5 + 3 / 4))
  assert float(discriminator_accuracy(jnp.ones(4), -jnp.ones(2))) == 1.0


def test_registry_unknown_name_lists_known():
  assert ADVERSARIAL_LOSSES.names() == sorted(
      ["hinge", "least_squares", "minimax", "non_saturating", "ns", "wasserstein"])
  with pytest.raises(UnknownNameError, match="unknown adversarial loss 'wgan'") as err:
    ADVERSARIAL_LOSSES.get("wgan")
  for name in ADVERSARIAL_LOSSES.names():
    assert name in str(err.value)


# ------------------------------------------------- the discriminator optimum

_MODES = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], -1)


def _mixture(rng, n):
  k_mode, k_noise = jax.random.split(rng)
  modes = jnp.asarray(_MODES, jnp.float32)[jax.random.randint(k_mode, (n,), 0, 8)]
  return modes + 0.2 * jax.random.normal(k_noise, (n, 2))


def _blob(rng, n):
  return 0.3 * jax.random.normal(rng, (n, 2))


class _Disc(nn.Module):

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      x = nn.relu(nn.Dense(32)(x))
    return nn.Dense(1)(x)[:, 0]


def _train_discriminator(sample_real, sample_fake, steps=400, batch=256):
  """Minimax D trained on fresh samples each step, so it tracks the populations."""
  disc = _Disc()
  params = disc.init(jax.random.key(0), jnp.zeros((1, 2)))
  opt = optax.adam(3e-3)
  d_loss = _loss("minimax").d_loss

  def step(carry, rng):
    params, opt_state = carry
    k_real, k_fake = jax.random.split(rng)
    real, fake = sample_real(k_real, batch), sample_fake(k_fake, batch)
    grads = jax.grad(lambda p: d_loss(disc.apply(p, real), disc.apply(p, fake)))(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  rngs = jax.random.split(jax.random.key(1), steps)
  (params, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, rngs))((params, opt.init(params)))
  return lambda x: disc.apply(params, x)


def test_optimal_discriminator_is_one_half_when_pg_equals_pdata():
  # D*(x) = p_data / (p_data + p_g) = 1/2 everywhere when the two coincide.
  disc = _train_discriminator(_mixture, _mixture)
  probe = _mixture(jax.random.key(99), 2000)
  d = np.asarray(jax.nn.sigmoid(disc(probe)))
  assert abs(d.mean() - 0.5) < 0.05
  assert np.max(np.abs(d - 0.5)) < 0.1


def test_discriminator_separates_different_distributions():
  disc = _train_discriminator(_mixture, _blob)
  real, fake = _mixture(jax.random.key(7), 1000), _blob(jax.random.key(8), 1000)
  assert float(discriminator_accuracy(disc(real), disc(fake))) > 0.9


# ------------------------------------------------------- gradient penalty

_SHAPES = {"images": (6, 4, 4, 3), "points": (6, 2)}


def _linear_critic(w, column=False):
  def f(x):
    out = x.reshape(x.shape[0], -1) @ w.reshape(-1)
    return out[:, None] if column else out
  return f


@pytest.mark.parametrize("kind", ["images", "points"])
def test_interpolation_weights_are_per_example(kind):
  shape = _SHAPES[kind]
  alpha = np.asarray(interpolation_weights(jax.random.key(3), shape))
  assert alpha.shape == (shape[0],) + (1,) * (len(shape) - 1)
  assert np.all((alpha >= 0) & (alpha <= 1))
  assert len(np.unique(alpha)) == shape[0]


@pytest.mark.parametrize("kind", ["images", "points"])
@pytest.mark.parametrize("column", [False, True])
def test_gradient_penalty_zero_for_unit_linear_critic(kind, column):
  shape = _SHAPES[kind]
  k_w, k_r, k_f = jax.random.split(jax.random.key(0), 3)
  w = jax.random.normal(k_w, shape[1:])
  w = w / jnp.linalg.norm(w)
  real, fake = jax.random.normal(k_r, shape), jax.random.normal(k_f, shape)
  gp = gradient_penalty(_linear_critic(w, column), real, fake, jax.random.key(5))
  assert float(gp) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["images", "points"])
def test_gradient_penalty_linear_critic_closed_form(kind):
  shape = _SHAPES[kind]
  k_w, k_r, k_f = jax.random.split(jax.random.key(1), 3)
  w = 0.4 * jax.random.normal(k_w, shape[1:])
  real, fake = jax.random.normal(k_r, shape), jax.random.normal(k_f, shape)
  gp = gradient_penalty(_linear_critic(w), real, fake, jax.random.key(5))
  norm_w = np.linalg.norm(np.asarray(w, np.float64))
  assert float(gp) == pytest.approx((norm_w - 1) ** 2, rel=1e-4)
  gp2 = gradient_penalty(_linear_critic(w), real, fake, jax.random.key(5), target=2.0)
  assert float(gp2) == pytest.approx((norm_w - 2) ** 2, rel=1e-4)


@pytest.mark.parametrize("kind", ["images", "points"])
def test_gradient_penalty_quadratic_critic_uses_per_example_alpha(kind):
  shape = _SHAPES[kind]
  k_r, k_f = jax.random.split(jax.random.key(2))
  real, fake = jax.random.normal(k_r, shape), jax.random.normal(k_f, shape)
  rng = jax.random.key(11)
  # f(x) = ½‖x‖² per example, so ∇f(x̂) = x̂ and the norm is ‖x̂‖.
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=-1)
  gp, alpha_used = gradient_penalty(critic, real, fake, rng, return_alpha=True)

  alpha = np.asarray(interpolation_weights(rng, shape), np.float64)
  np.testing.assert_array_equal(np.asarray(alpha_used), alpha.astype(np.float32))
  x_hat = alpha * np.asarray(real, np.float64) + (1 - alpha) * np.asarray(fake, np.float64)
  norms = np.linalg.norm(x_hat.reshape(shape[0], -1), axis=-1)
  assert float(gp) == pytest.approx(np.mean((norms - 1) ** 2), rel=1e-4)


def test_gradient_penalty_is_differentiable_in_critic_params():
  real = jax.random.normal(jax.random.key(0), (4, 2))
  fake = jax.random.normal(jax.random.key(1), (4, 2))
  grad = jax.grad(lambda w: gradient_penalty(_linear_critic(w), real, fake,
                                             jax.random.key(2)))(jnp.asarray([3.0, 4.0]))
  # d/dw (‖w‖ − 1)² = 2(‖w‖ − 1) w/‖w‖ = 2·4·(0.6, 0.8).
  np.testing.assert_allclose(np.asarray(grad), [4.8, 6.4], rtol=1e-5)


# --------------------------------------------------------------------- R1


@pytest.mark.parametrize("kind", ["images", "points"])
def test_r1_linear_and_constant_critics(kind):
  shape = _SHAPES[kind]
  k_w, k_r = jax.random.split(jax.random.key(4))
  w = jax.random.normal(k_w, shape[1:])
  real = jax.random.normal(k_r, shape)
  r1 = r1_penalty(_linear_critic(w), real)
  assert float(r1) == pytest.approx(float(np.sum(np.asarray(w, np.float64) ** 2)), rel=1e-5)
  constant = lambda x: jnp.full((x.shape[0],), 2.5)
  assert float(r1_penalty(constant, real)) == 0.0


def test_r1_quadratic_critic():
  real = jax.random.normal(jax.random.key(6), (5, 3, 3, 1))
  # f(x) = ‖x‖² per example: ∇f = 2x, so R1 = mean(4‖x‖²).
  critic = lambda x: jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=-1)
  expected = np.mean(4 * np.sum(np.asarray(real, np.float64).reshape(5, -1) ** 2, axis=-1))
  assert float(r1_penalty(critic, real)) == pytest.approx(expected, rel=1e-5)
