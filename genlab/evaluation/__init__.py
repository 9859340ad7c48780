"""Evaluation of a trained workdir: eval.json, report.md and figures.

Each step family registers an evaluator `(exp, state, workdir, rng) -> (metrics,
figures)`; this module restores the checkpoint and writes the outputs.
"""

import json
import os

from genlab import experiment
from genlab.checkpoint import CheckpointError, Checkpointer
from genlab.evaluation import autoencoder, report, vae
from genlab.registry import Registry

EVALUATORS: Registry = Registry("evaluator")
EVALUATORS.register("reconstruction", autoencoder.evaluate)
EVALUATORS.register("elbo", vae.evaluate)


def _listdir(path: str) -> list[str]:
  return os.listdir(path) if os.path.isdir(path) else []


def restore(workdir: str):
  """Rebuilds a workdir's experiment and restores its newest checkpoint.

  Returns:
    (Experiment, TrainState).
  """
  config = experiment.load_config(workdir)
  if not any(d.isdigit() for d in _listdir(os.path.join(workdir, "checkpoints"))):
    raise CheckpointError(f"no checkpoint in {workdir}/checkpoints; train first with "
                          "python -m experiments.main --config=... --workdir=" + workdir)
  exp = experiment.build(config)
  template = exp.init_state()
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.checkpoint_every,
                      config.train.keep_checkpoints)
  try:
    state = ckpt.restore(template)
  finally:
    ckpt.close()
  if state is None:
    raise CheckpointError(f"no checkpoint in {workdir}/checkpoints; train first with "
                          "python -m experiments.main --config=... --workdir=" + workdir)
  return exp, state


def evaluate(workdir: str) -> dict:
  """Evaluates the newest checkpoint of `workdir`.

  Writes workdir/eval.json, workdir/report.md and PNGs under workdir/report/.

  Returns:
    The metrics written to eval.json.
  """
  exp, state = restore(workdir)
  evaluator = EVALUATORS.get(exp.config.step_family)
  metrics, figs = evaluator(exp, state, workdir, exp.rngs()["eval"])
  metrics = {"step": int(state.step), **metrics}
  with open(os.path.join(workdir, "eval.json"), "w") as f:
    json.dump(metrics, f, indent=2, sort_keys=True)
  report.write(workdir, exp.config, metrics, figs)
  return metrics
