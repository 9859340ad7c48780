"""Step families, chosen by `config.step_family`."""

from genlab.registry import Registry
from genlab.steps import adversarial, classification, elbo, reconstruction
from genlab.steps.base import StepFns, apply_gradients, to_unit_float

STEP_FAMILIES: Registry = Registry("step family")
STEP_FAMILIES.register("reconstruction", reconstruction.make)
STEP_FAMILIES.register("elbo", elbo.make)
STEP_FAMILIES.register("classification", classification.make)
STEP_FAMILIES.register("adversarial", adversarial.make)


def build(config, model) -> StepFns:
  """Returns the StepFns of the family named by `config.step_family` for `model`."""
  return STEP_FAMILIES.get(config.step_family)(model, config)
