"""Evaluation of a trained workdir: eval.json, report.md and figures.

Each step family registers an evaluator `(exp, state, workdir, rng) -> (metrics,
figures)`; this module restores the checkpoint and writes the outputs.
"""

import json
import os

from genlab import experiment, metrics
from genlab.data import toy
from genlab.evaluation import autoencoder, classifier, figures_2d, gan, report, representation, vae
from genlab.evaluation.sampling import SAMPLERS, requested_labels
from genlab.registry import Registry

EVALUATORS: Registry = Registry("evaluator")
EVALUATORS.register("reconstruction", autoencoder.evaluate)
EVALUATORS.register("elbo", vae.evaluate)
EVALUATORS.register("classification", classifier.evaluate)
EVALUATORS.register("adversarial", gan.evaluate)


restore = experiment.restore  # (Experiment, TrainState) of a workdir's newest checkpoint


def evaluate(workdir: str) -> dict:
  """Evaluates the newest checkpoint of `workdir`.

  Writes workdir/eval.json, workdir/report.md and PNGs under workdir/report/.

  Returns:
    The metrics written to eval.json.
  """
  exp, state = restore(workdir)
  evaluator = EVALUATORS.get(exp.config.step_family)
  scores, figs = evaluator(exp, state, workdir, exp.rngs()["eval"])
  scores = {"step": int(state.step), **scores, **_sample_scores(exp, state, workdir, figs)}
  if exp.config.eval.probe and exp.info["modality"] == "images" and (
      exp.config.step_family in representation.ENCODERS):
    scores.update(representation.probe_metrics(exp, state))
  with open(os.path.join(workdir, "eval.json"), "w") as f:
    json.dump(scores, f, indent=2, sort_keys=True)
  report.write(workdir, exp.config, scores, figs)
  return scores


def _sample_scores(exp, state, workdir: str, figs: dict) -> dict:
  """Sample-quality scores of the family's sampler (adds a scatter figure for points)."""
  n = exp.config.eval.num_samples
  if not n or exp.config.step_family not in SAMPLERS:
    return {}
  fake = SAMPLERS.get(exp.config.step_family)(exp, state, n, exp.rngs()["sample"], None)
  if exp.info["modality"] == "points":
    spec = toy.TOY_SETS[exp.config.data.name]
    path = figures_2d.scatter_over_modes(os.path.join(workdir, "report", "samples_2d.png"),
                                         fake, spec.centers, spec.sigma)
    figs[f"{n} samples over the modes (circles: 3σ)"] = os.path.relpath(path, workdir)
  return metrics.score_samples(exp.config, exp.info, fake, requested_labels(exp, n))
