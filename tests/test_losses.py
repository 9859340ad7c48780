"""Losses and penalties against their closed forms."""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from genlab.losses import RECONSTRUCTION_LOSSES, bce, bernoulli_kl, gaussian_kl, mse, psnr
from genlab.steps.reconstruction import sparsity_penalty


def _kl_ref(rho: float, q: float) -> float:
  return rho * math.log(rho / q) + (1 - rho) * math.log((1 - rho) / (1 - q))


# ---------------------------------------------------------------- bernoulli_kl


@pytest.mark.parametrize("rho,q", [(0.05, 0.2), (0.05, 0.01), (0.3, 0.7), (0.5, 0.9)])
def test_bernoulli_kl_closed_form(rho, q):
  got = float(bernoulli_kl(rho, jnp.float32(q)))
  assert got == pytest.approx(_kl_ref(rho, q), rel=1e-5)


def test_bernoulli_kl_zero_at_rho_positive_elsewhere():
  for rho in (0.05, 0.2, 0.5):
    assert float(bernoulli_kl(rho, jnp.float32(rho))) == pytest.approx(0.0, abs=1e-6)
    grid = jnp.asarray([q for q in np.linspace(0.01, 0.99, 41) if abs(q - rho) > 0.01],
                       jnp.float32)
    assert bool(jnp.all(bernoulli_kl(rho, grid) > 0))


def test_bernoulli_kl_elementwise_and_finite_at_bounds():
  q = jnp.asarray([[0.0, 0.1], [0.5, 1.0]], jnp.float32)
  out = bernoulli_kl(0.05, q)
  assert out.shape == (2, 2)
  assert bool(jnp.all(jnp.isfinite(out)))  # ρ̂ is clipped away from 0 and 1
  # The penalty grows as ρ̂ leaves ρ on either side.
  assert float(out[0, 0]) > float(bernoulli_kl(0.05, jnp.float32(0.01)))
  assert float(out[1, 1]) > float(out[1, 0]) > float(out[0, 1])


def test_bernoulli_kl_gradient_closed_form():
  rho = 0.1
  q = jnp.asarray([0.02, 0.1, 0.4, 0.8], jnp.float32)
  grad = jax.grad(lambda v: jnp.sum(bernoulli_kl(rho, v)))(q)
  expected = -rho / np.asarray(q) + (1 - rho) / (1 - np.asarray(q))
  np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-4, atol=1e-5)
  assert abs(float(grad[1])) < 1e-4  # the minimum is at ρ̂ = ρ


# ------------------------------------------------------------ sparsity_penalty


def _sparsity_cfg(estimate: str, beta: float = 0.3, rho: float = 0.05, momentum: float = 0.9):
  return ml_collections.ConfigDict(
      dict(beta=beta, rho=rho, estimate=estimate, momentum=momentum))


def _codes(seed: int = 0, shape=(16, 8)) -> jax.Array:
  return jax.nn.sigmoid(2.0 * jax.random.normal(jax.random.key(seed), shape))


def test_sparsity_penalty_batch_estimate():
  code = _codes()
  cfg = _sparsity_cfg("batch")
  running = jnp.full((code.shape[1],), 0.5, jnp.float32)  # ignored for 'batch'
  penalty, rho_hat = sparsity_penalty(code, running, cfg)
  batch_mean = np.asarray(code).mean(axis=0)
  np.testing.assert_allclose(np.asarray(rho_hat), batch_mean, rtol=1e-6)
  expected = cfg.beta * sum(_kl_ref(cfg.rho, float(q)) for q in batch_mean)
  assert float(penalty) == pytest.approx(expected, rel=1e-5)
  # β scales the penalty linearly; ρ̂ = ρ for every unit gives no penalty.
  double, _ = sparsity_penalty(code, running, _sparsity_cfg("batch", beta=2 * cfg.beta))
  assert float(double) == pytest.approx(2 * float(penalty), rel=1e-6)
  at_rho = jnp.full(code.shape, cfg.rho, jnp.float32)
  assert float(sparsity_penalty(at_rho, running, cfg)[0]) == pytest.approx(0.0, abs=1e-5)


def test_sparsity_penalty_running_estimate_blends():
  code = _codes(1)
  cfg = _sparsity_cfg("running", momentum=0.9)
  running = jnp.linspace(0.02, 0.6, code.shape[1]).astype(jnp.float32)
  penalty, rho_hat = sparsity_penalty(code, running, cfg)
  blend = cfg.momentum * np.asarray(running) + (1 - cfg.momentum) * np.asarray(code).mean(0)
  np.testing.assert_allclose(np.asarray(rho_hat), blend, rtol=1e-5)
  expected = cfg.beta * sum(_kl_ref(cfg.rho, float(q)) for q in blend)
  assert float(penalty) == pytest.approx(expected, rel=1e-5)


def test_sparsity_penalty_running_gradient_only_through_batch_term():
  code = _codes(2)
  batch = code.shape[0]
  cfg = _sparsity_cfg("running", momentum=0.8)
  running = jnp.linspace(0.05, 0.5, code.shape[1]).astype(jnp.float32)
  f = lambda c, r: sparsity_penalty(c, r, cfg)[0]
  g_code, g_running = jax.grad(f, argnums=(0, 1))(code, running)
  # No gradient reaches the running average...
  np.testing.assert_array_equal(np.asarray(g_running), 0.0)
  # ...and the code's gradient is that of the batch mean at full scale (as documented:
  # the blend's value, but not its (1 - m) shrinkage), evaluated at the blended ρ̂.
  _, rho_hat = sparsity_penalty(code, running, cfg)
  q = np.asarray(rho_hat, np.float64)
  dkl = -cfg.rho / q + (1 - cfg.rho) / (1 - q)
  per_unit = cfg.beta * dkl / batch
  np.testing.assert_allclose(np.asarray(g_code), np.broadcast_to(per_unit, code.shape),
                             rtol=1e-4, atol=1e-7)
  # With 'batch' the same chain rule holds at ρ̂ = the batch mean.
  g_batch = jax.grad(lambda c: sparsity_penalty(c, running, _sparsity_cfg("batch"))[0])(code)
  q_b = np.asarray(code, np.float64).mean(0)
  expected_b = cfg.beta * (-cfg.rho / q_b + (1 - cfg.rho) / (1 - q_b)) / batch
  np.testing.assert_allclose(np.asarray(g_batch), np.broadcast_to(expected_b, code.shape),
                             rtol=1e-4, atol=1e-7)


def test_sparsity_penalty_unknown_estimate():
  with pytest.raises(ValueError, match="'epoch'"):
    sparsity_penalty(_codes(), jnp.zeros(8), _sparsity_cfg("epoch"))


# ----------------------------------------------------------------- gaussian_kl


def test_gaussian_kl_zero_for_standard_normal_and_shape():
  mean = jnp.zeros((3, 5))
  logvar = jnp.zeros((3, 5))
  out = gaussian_kl(mean, logvar)
  assert out.shape == (3,)
  np.testing.assert_allclose(np.asarray(out), 0.0, atol=1e-7)


def test_gaussian_kl_matches_monte_carlo():
  rs = np.random.RandomState(0)
  mean = np.array([0.5, -1.0, 0.0, 2.0])
  logvar = np.array([0.0, -1.0, 0.7, -0.3])
  std = np.exp(0.5 * logvar)
  n = 400_000
  z = mean + std * rs.randn(n, mean.size)
  # log q(z) - log p(z), summed over dimensions; E_q of it is KL(q || p).
  log_ratio = np.sum(-0.5 * ((z - mean) / std) ** 2 - 0.5 * logvar + 0.5 * z**2, axis=1)
  estimate, stderr = log_ratio.mean(), log_ratio.std() / math.sqrt(n)
  got = float(gaussian_kl(jnp.asarray(mean), jnp.asarray(logvar)))
  assert abs(got - estimate) < 5 * stderr


# ----------------------------------------------------- reconstruction losses


def _logits_and_targets(shape=(4, 5, 6, 1)):
  k1, k2 = jax.random.split(jax.random.key(3))
  return 2.0 * jax.random.normal(k1, shape), jax.random.uniform(k2, shape)


def test_mse_per_example():
  logits, target = _logits_and_targets()
  out = mse(logits, target)
  assert out.shape == (4,)
  p = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
  expected = np.mean((p - np.asarray(target)) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5)
  # Perfect reconstruction of a {0, 1} target by saturated logits has ~0 error.
  t = (np.asarray(target) > 0.5).astype(np.float32)
  assert float(jnp.max(mse(jnp.asarray(60.0 * (2 * t - 1)), jnp.asarray(t)))) < 1e-12


def test_bce_per_example_is_summed_sigmoid_bce():
  logits, target = _logits_and_targets()
  out = bce(logits, target)
  assert out.shape == (4,)
  ref = optax.sigmoid_binary_cross_entropy(logits, target).reshape(4, -1).sum(-1)
  np.testing.assert_allclose(np.asarray(out), np.asarray(ref), rtol=1e-6)
  x = np.asarray(logits, np.float64)
  t = np.asarray(target, np.float64)
  p = 1 / (1 + np.exp(-x))
  closed = -(t * np.log(p) + (1 - t) * np.log(1 - p)).reshape(4, -1).sum(-1)
  np.testing.assert_allclose(np.asarray(out), closed, rtol=1e-4)


def test_psnr_values():
  out = psnr(jnp.asarray([1.0, 0.1, 0.01, 1e-4]))
  np.testing.assert_allclose(np.asarray(out), [0.0, 10.0, 20.0, 40.0], atol=1e-4)
  np.testing.assert_allclose(float(psnr(jnp.float32(0.25), peak=2.0)), 10 * math.log10(16),
                             rtol=1e-6)
  assert bool(jnp.isfinite(psnr(jnp.float32(0.0))))  # a perfect reconstruction stays finite


def test_reconstruction_registry():
  assert RECONSTRUCTION_LOSSES.get("mse") is mse
  assert RECONSTRUCTION_LOSSES.get("bce") is bce
