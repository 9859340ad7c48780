"""Every experiment config loads, is locked, documents its variants and uses known names."""

import contextlib
import re

import jax.numpy as jnp
import pytest
import tensorflow_datasets as tfds

from conftest import CONFIG_FILES, config_module, load_config
from genlab import data, families, models, optim
from genlab.losses import RECONSTRUCTION_LOSSES
from genlab.nn import activation
from genlab.steps.elbo import DECODER_MEANS
from genlab.steps.reconstruction import sparsity_penalty


def documented_variants(name: str) -> list[str]:
  """Variant names listed under 'Variants' in a config module's docstring.

  The section is a run of lines `  NAME  description`, indented by exactly two
  spaces; deeper-indented lines continue a description.
  """
  lines = (config_module(name).__doc__ or "").splitlines()
  found, inside = [], False
  for line in lines:
    if line.startswith("Variants"):
      inside = True
      continue
    if inside:
      m = re.match(r"^  (\w+)\s", line)
      if m:
        found.append(m.group(1))
      elif not line.startswith("   ") or not line.strip():
        inside = False
  return found


def documented_fields(name: str) -> set[str]:
  """`key=` field names mentioned in a config's docstring (not the command lines)."""
  doc = config_module(name).__doc__ or ""
  text = "\n".join(l for l in doc.splitlines() if "python -m" not in l)
  return set(re.findall(r"(?<![\w-])([a-z_]+)=", text))


def _known_from_error(name: str, arg: str) -> set[str]:
  with pytest.raises(ValueError) as e:
    load_config(name, arg)
  message = str(e.value)
  assert "\n" not in message
  return set(message.split("known: ", 1)[1].split(", "))


def _variant_args(name: str) -> list[str]:
  args = [None, "smoke"]
  for v in documented_variants(name):
    args += [v, f"{v},smoke"]
  return args


ALL_ARGS = [(name, arg) for name in CONFIG_FILES for arg in _variant_args(name)]


def test_config_files_found():
  # The glob must see the known configs; a rename should update the suite knowingly.
  assert {"ae", "sparse_ae", "denoising_ae", "stacked_ae", "conv_ae"} <= set(CONFIG_FILES)


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_smoke_loads_locked_and_small(name):
  full = load_config(name)
  config = load_config(name, "smoke")
  with pytest.raises(AttributeError, match="locked"):
    config.new_key = 1
  with pytest.raises(AttributeError, match="locked"):
    config.train.num_stepz = 1
  optim = config.optim if "name" in config.optim else next(iter(config.optim.values()))
  with pytest.raises(TypeError):
    optim.learning_rate = "abc"
  t = config.train
  assert t.num_steps <= 50 and t.num_steps < full.train.num_steps
  # Every periodic path (logging, eval, samples, checkpoints) runs within a smoke run.
  for every in (t.log_every, t.eval_every, t.sample_every, t.checkpoint_every):
    assert 0 < every <= t.num_steps
  # Only the loop is shrunk: the model is the one the full config trains.
  assert config.model.to_dict() == full.model.to_dict()


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_documented_variants_are_the_accepted_ones(name):
  accepted = _known_from_error(name, "bogus_variant")
  assert accepted == set(documented_variants(name)) | {"smoke"}


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_unknown_variant_raises_naming_known(name):
  with pytest.raises(ValueError, match="'bogus'") as e:
    load_config(name, "smoke,bogus")
  for variant in [*documented_variants(name), "smoke"]:
    assert variant in str(e.value)


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_documented_fields_are_accepted(name):
  accepted = _known_from_error(name, "no_such_field=1")
  assert documented_fields(name) <= accepted


def test_field_values_are_typed():
  assert load_config("ae", "code=64,smoke").model.code_size == 64
  assert load_config("sparse_ae", "rho=0.1,smoke").sparsity.rho == pytest.approx(0.1)
  with pytest.raises(ValueError) as e:
    load_config("ae", "code=abc")
  assert "'code'" in str(e.value)


@pytest.mark.parametrize("name,arg", ALL_ARGS)
def test_names_resolve(name, arg):
  config = load_config(name, arg)
  assert config.is_locked
  assert config.model.name in models.MODELS, config.model.name
  assert config.step_family in families.FAMILIES, config.step_family
  if "loss" in config:
    assert config.loss.reconstruction in RECONSTRUCTION_LOSSES, config.loss.reconstruction
  if "vae" in config:
    assert config.vae.likelihood in DECODER_MEANS, config.vae.likelihood
  assert config.data.name in data.DATASETS or config.data.name.startswith("tfds:")
  for section in ([config.optim] if "name" in config.optim else config.optim.values()):
    optim.make_optimizer(section, config.train.num_steps)  # raises on unknown names
  activation(config.model.get("activation", "linear"))
  activation(config.model.get("code_activation", "linear"))
  if "sparsity" in config and config.sparsity.beta > 0:
    sparsity_penalty(jnp.full((2, 3), 0.5), jnp.full((3,), 0.5), config.sparsity)
  # The whole chain builds: model from the data's shape, then the step functions. A
  # catalogue set (tfds:NAME) is not prepared here: tfds serves random records of it.
  served = (tfds.testing.mock_data(num_examples=1) if config.data.name.startswith("tfds:")
            else contextlib.nullcontext())
  with served:
    info = data.dataset_info(config.data.name, config.data.data_dir or None)
  model = models.build(config.model, info)
  fns = families.make_fns(config, model, info)
  # The loop visits every stage it compiles (e.g. each greedy pre-training layer).
  visited = {fns.stage_at(s) for s in range(config.train.num_steps)}
  assert visited == set(fns.stages)
