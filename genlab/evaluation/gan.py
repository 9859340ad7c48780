"""Evaluation of the adversarial family: D's test-split scores and sample figures.

A GAN has no likelihood and no encoder, so its test-split numbers describe the
D–G game at the last step (how D scores held-out digits and fresh fakes); sample
quality comes from the shared sampler and `genlab.metrics.score_samples`.
"""

import os

import jax
import numpy as np

from genlab.evaluation import figures
from genlab.evaluation.sampling import gan_generate, gan_labels
from genlab.evaluation.split import evaluate_split, means
from genlab.state import num_params

_GRID = 8  # the sample figure is _GRID × _GRID
_PAIRS, _STEPS = 6, 10  # latent interpolation: one pair per row


def evaluate(exp, state, workdir: str, rng: jax.Array) -> tuple[dict, dict]:
  """Scores a GAN's discriminator on the test split and draws its figures.

  The per-example means use the loop's eval_step with the same rng, so
  `test/*` equals what training logged at the checkpoint's step.

  Returns:
    (metrics for eval.json, {figure title: PNG path relative to workdir}).
  """
  cfg = exp.config
  images, labels = exp.test
  per_example = evaluate_split(jax.jit(exp.fns.eval_step), state, images, labels,
                               cfg.data.eval_batch_size, rng, exp.mesh)
  result = means(per_example, "test")
  result["model/params"] = num_params(state.params)
  result["model/g_params"] = num_params(state.params["g"])
  result["model/d_params"] = num_params(state.params["d"])
  result["config/latent_size"] = cfg.model.latent_size
  return result, _figures(exp, state, workdir)


def _figures(exp, state, workdir: str) -> dict:
  if exp.info["modality"] == "points":  # evaluation draws the samples as a scatter
    return {}
  shape = exp.test[0].shape[1:]
  latent = exp.config.model.latent_size
  out = figures.ensure_dir(os.path.join(workdir, "report"))
  # Fixed keys: the same z from one checkpoint to the next, so figures compare.
  z = np.asarray(jax.random.normal(jax.random.key(0), (_GRID * _GRID, latent)))
  samples = gan_generate(exp, state, z, gan_labels(exp, len(z), None))
  figs = {"Samples G(z), z ~ N(0, I)": figures.rows_png(
      os.path.join(out, "samples.png"), list(samples.reshape(_GRID, _GRID, *shape)))}
  ends = np.asarray(jax.random.normal(jax.random.key(1), (2, _PAIRS, latent)))
  interp = figures.interpolation_codes(ends[0], ends[1], _STEPS)
  row_labels = gan_labels(exp, _PAIRS, None)  # one class per row when conditional
  strip = gan_generate(exp, state, interp,
                       None if row_labels is None else np.repeat(row_labels, _STEPS))
  figs["Latent interpolation z = αz₁ + (1−α)z₂, α from 1 to 0 (one pair per row)"] = (
      figures.rows_png(os.path.join(out, "interpolation.png"),
                       list(strip.reshape(_PAIRS, _STEPS, *shape))))
  return {k: os.path.relpath(v, workdir) for k, v in figs.items()}
