"""Step functions: pure, jit-compiled train/eval steps of each family (genlab.families
bundles them with their evaluators, samplers and monitors)."""

from genlab.steps.base import StepFns, apply_gradients, to_unit_float
