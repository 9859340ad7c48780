"""Perceptual path length: closed forms for linear generators, the protocol keys."""

import numpy as np
import pytest

from genlab.metrics import path_length

D, P = 6, 10


@pytest.fixture(name="linear")
def _linear():
  a = np.random.default_rng(3).normal(size=(P, D))
  return a, (lambda z: np.asarray(z, np.float64) @ a.T), (lambda x: x)


def test_lerp_path_of_a_linear_generator_has_its_closed_form(linear):
  """g(z) = Az, φ = identity: along a straight path the speed is ‖A(z₁ − z₀)‖² for every
  t and ε, and equals the straight-line length."""
  a, decode, embed = linear
  rng = np.random.default_rng(0)
  z0, z1 = rng.normal(size=(50, D)), rng.normal(size=(50, D))
  t = rng.uniform(0, 0.99, 50)
  speed, straight = path_length.path_lengths(decode, embed, z0, z1, t, 1e-2, "lerp")
  expected = np.sum(np.square((z1 - z0) @ a.T), -1)
  np.testing.assert_allclose(speed, expected, rtol=1e-3)
  np.testing.assert_allclose(straight, expected, rtol=1e-5)


def test_ppl_of_a_linear_generator_is_twice_its_frobenius_norm(linear):
  """z₀, z₁ ~ N(0, I): E‖A(z₁ − z₀)‖² = 2‖A‖²_F; the estimator is the trimmed mean of the
  closed-form per-path values of the same draws."""
  a, decode, embed = linear
  sample = lambda rng, n: rng.standard_normal((n, D))
  got = path_length.perceptual_path_length(decode, embed, sample, num_paths=4000, eps=1e-3,
                                           seed=7, batch=300)
  rng = np.random.default_rng(7)
  z0, z1 = sample(rng, 4000), sample(rng, 4000)
  exact = np.sum(np.square((z1 - z0) @ a.T), -1)
  assert got["samples/ppl"] == pytest.approx(path_length.trimmed_mean(exact), rel=2e-3)
  assert got["samples/ppl"] == pytest.approx(2 * np.sum(a * a), rel=0.1)
  assert got["protocol/ppl_paths"] == 4000
  assert got["protocol/ppl_eps"] == 1e-3
  assert got["protocol/ppl_interpolation"] == "lerp"


def test_slerp_between_orthogonal_latents_runs_along_the_arc():
  """Equal norms r, orthogonal ends, g = identity: the path is a quarter circle, so the
  speed is (rπ/2)² everywhere while the chord is 2r²: the ratio exceeds 1."""
  r = 3.0
  z0 = np.tile([[r, 0.0, 0.0]], (20, 1))
  z1 = np.tile([[0.0, r, 0.0]], (20, 1))
  t = np.linspace(0, 0.98, 20)
  ident = lambda x: np.asarray(x, np.float64)
  speed, straight = path_length.path_lengths(ident, ident, z0, z1, t, 1e-3, "slerp")
  np.testing.assert_allclose(speed, (r * np.pi / 2) ** 2, rtol=1e-3)
  np.testing.assert_allclose(straight, 2 * r * r, rtol=1e-6)
  mid = path_length.interpolate(z0[:1], z1[:1], np.array([0.5]), "slerp")
  np.testing.assert_allclose(np.linalg.norm(mid), r, rtol=1e-12)


def test_trimmed_mean_drops_the_tails():
  values = np.concatenate([np.ones(98), [1e9, -1e9]])
  assert path_length.trimmed_mean(values) == pytest.approx(1.0)


def test_bad_arguments_fail_clearly(linear):
  _, decode, embed = linear
  z = np.zeros((2, D))
  with pytest.raises(ValueError, match="interpolation"):
    path_length.interpolate(z, z, np.zeros(2), "cubic")
  with pytest.raises(ValueError, match="eps"):
    path_length.path_lengths(decode, embed, z, z, np.zeros(2), 0.0, "lerp")
