"""Evaluation of the classification family (the metrics' domain feature networks)."""

import jax
import numpy as np

from genlab.evaluation.split import means
from genlab.state import num_params


def evaluate(exp, state, workdir: str, rng: jax.Array) -> tuple[dict, dict]:
  """Test accuracy and loss, with per-class accuracy; no figures."""
  del workdir
  labels = exp.test["label"]
  per_example = exp.evaluate_split(state, rng)
  result = means(per_example, "test")
  for c in np.unique(labels):
    result[f"test/accuracy_c{int(c)}"] = float(np.mean(per_example["accuracy"][labels == c]))
  result["model/params"] = num_params(state.params)
  return result, {}
