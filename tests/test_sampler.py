"""The one sampler of G's inputs: priors, truncation at sampling time only, hierarchical
chunks, label and image conditions, and one-line errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genlab import sampler as sampler_lib
from genlab.errors import UserError


def test_normal_prior_is_jax_normal():
  s = sampler_lib.Sampler(latent_size=5)
  z = s.latents(jax.random.key(0), 7, sampling=True)
  np.testing.assert_array_equal(z, jax.random.normal(jax.random.key(0), (7, 5)))


def test_truncation_applies_at_sampling_time_only():
  s = sampler_lib.Sampler(latent_size=4, prior="truncated", truncation=0.5)
  train = s.latents(jax.random.key(1), 2000)
  sample = s.latents(jax.random.key(1), 2000, sampling=True)
  assert float(jnp.max(jnp.abs(train))) > 2.0  # the untruncated prior in training
  assert float(jnp.max(jnp.abs(sample))) <= 0.5
  assert float(jnp.std(sample)) > 0.2  # spread over the interval, not collapsed


def test_a_hierarchical_z_is_truncated_chunk_by_chunk_at_sampling_time():
  s = sampler_lib.Sampler(latent_size=12, prior="hierarchical", chunks=3, truncation=0.5)
  train, sample = s.latents(jax.random.key(3), 500), s.latents(jax.random.key(3), 500, True)
  assert [c.shape for c in sample] == [(500, 4)] * 3  # still BigGAN's chunks
  assert max(float(jnp.max(jnp.abs(c))) for c in sample) <= 0.5
  assert max(float(jnp.max(jnp.abs(c))) for c in train) > 2.0


def test_hierarchical_prior_splits_z_into_equal_chunks():
  s = sampler_lib.Sampler(latent_size=12, prior="hierarchical", chunks=3)
  chunks = s.latents(jax.random.key(2), 5)
  assert isinstance(chunks, tuple) and [c.shape for c in chunks] == [(5, 4)] * 3
  whole = jax.random.normal(jax.random.key(2), (5, 12))
  np.testing.assert_array_equal(jnp.concatenate(chunks, -1), whole)


def test_labels_and_conditions():
  s = sampler_lib.Sampler(latent_size=2, condition="label", num_classes=3)
  np.testing.assert_array_equal(s.labels(7), [0, 1, 2, 0, 1, 2, 0])  # balanced
  np.testing.assert_array_equal(s.labels(4, label=2), [2, 2, 2, 2])
  batch = {"label": np.array([4]), "source": np.zeros((1, 8, 8, 1))}
  assert s.condition_of(batch) is batch["label"]
  image = sampler_lib.Sampler(latent_size=2, condition="image")
  assert image.condition_of(batch) is batch["source"] and image.labels(3) is None
  assert sampler_lib.Sampler(latent_size=2).condition_of(batch) is None


@pytest.mark.parametrize("kwargs, message", [
    (dict(prior="uniform"), "sampler.prior"),
    (dict(condition="text"), "sampler.condition"),
    (dict(prior="hierarchical", chunks=3), "chunks=3 must divide"),
    (dict(truncation=-1.0), "truncation"),
    (dict(condition="label"), "labelled dataset"),
])
def test_bad_settings_fail_in_one_line(kwargs, message):
  with pytest.raises(UserError, match=message) as e:
    sampler_lib.Sampler(latent_size=4, **kwargs)
  assert "\n" not in str(e.value)


def test_label_errors():
  with pytest.raises(UserError, match="not conditioned on a class"):
    sampler_lib.Sampler(latent_size=2).labels(3, label=1)
  with pytest.raises(UserError, match=r"0\.\.2"):
    sampler_lib.Sampler(latent_size=2, condition="label", num_classes=3).labels(3, label=5)
