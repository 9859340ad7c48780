"""Evaluation of the adversarial family: the game's test-split scores and sample figures.

A GAN has no likelihood and no encoder, so its test-split numbers describe the game
at the last step (how D scores held-out digits and fresh fakes, under the game's own
losses); sample quality comes from the one sampler and `genlab.metrics.score_samples`.
"""

import os

import jax
import numpy as np

from genlab.evaluation import figures, large_gans
from genlab.evaluation.sampling import generate
from genlab.evaluation.split import means
from genlab.state import num_params
from genlab.writers import read_metrics

_GRID = 8  # the sample figure is _GRID × _GRID
_PAIRS, _STEPS = 6, 10  # latent interpolation: one pair per row


def evaluate(exp, state, workdir: str, rng: jax.Array) -> tuple[dict, dict]:
  """Scores the game on the test split and draws its figures.

  The per-example means use the loop's eval_step with the same rng, so
  `test/*` equals what training logged at the checkpoint's step.

  Returns:
    (metrics for eval.json, {figure title: PNG path relative to workdir}).
  """
  cfg = exp.config
  result = means(exp.evaluate_split(state, rng), "test")
  result["model/params"] = num_params(state.params)
  for name, params in state.params.items():
    result[f"model/{name}_params"] = num_params(params)
  if exp.fns.generate is not None:
    result["config/latent_size"] = cfg.model.latent_size
    figs = _figures(exp, state, workdir)
  else:
    figs = _translations(exp, state, workdir)
  records = read_metrics(workdir)
  result.update(large_gans.stage_scores(exp, records))
  critic, critic_fig = critic_vs_dfid(records, cfg.gan.loss,
                                      os.path.join(workdir, "report", "critic_vs_dfid.png"))
  result.update(critic)
  if critic_fig:
    figs["The critic's estimate against sample dFID during training"] = os.path.relpath(
        critic_fig, workdir)
  return result, figs


def critic_vs_dfid(records: list[dict], loss: str, path: str) -> tuple[dict, str | None]:
  """Does D's loss track sample quality? (WGAN's claim: the critic estimates W.)

  At each in-loop evaluation (`samples/dfid` in metrics.jsonl, see
  `monitor.sample_scores`) the critic's estimate is the mean `train/d_loss` over
  the log intervals since the previous one, negated for the Wasserstein loss
  (−d_loss = E D(x) − E D(G(z)) ≈ W(p_data, p_g)). Returns
  {'health/critic_dfid_spearman': rank correlation} (positive: they fall together)
  and the figure's path; ({}, None) with fewer than 3 evaluations.
  """
  evals = [r for r in records if "samples/dfid" in r]
  if len(evals) < 3:
    return {}, None
  sign = -1.0 if loss == "wasserstein" else 1.0
  estimate, last = [], 0
  for r in evals:
    window = [x["train/d_loss"] for x in records
              if "train/d_loss" in x and last < x["step"] <= r["step"]]
    estimate.append(sign * np.mean(window) if window else np.nan)
    last = r["step"]
  steps = [r["step"] for r in evals]
  dfid = [r["samples/dfid"] for r in evals]
  ok = ~np.isnan(estimate)
  # Imported on use: scipy.stats takes ~1 s to import, which every command would pay.
  import scipy.stats  # pylint: disable=import-outside-toplevel
  rho = float(scipy.stats.spearmanr(np.asarray(estimate)[ok], np.asarray(dfid)[ok])[0])
  name = "W estimate −d_loss" if sign < 0 else "d_loss"
  figures.twin_curves(path, steps, estimate, name, dfid, "samples/dfid",
                      f"Spearman ρ = {rho:.2f}")
  return {"health/critic_dfid_spearman": rho}, path


def _translations(exp, state, workdir: str) -> dict:
  """A game that translates its inputs (no prior): the sample grid rows of 8 test
  examples, in the order the game's visualize returns them."""
  shown = {k: v[:_GRID] for k, v in exp.test.items()}
  # Not jitted: a jitted dict comes back with sorted keys, and the rows keep the
  # game's order (A | G(A) | B; a | G(a) | F(G(a)) ...). Eight examples, eagerly.
  rows = {k: np.asarray(v) for k, v in exp.fns.visualize(state, shown).items()}
  if not rows:
    return {}
  out = figures.ensure_dir(os.path.join(workdir, "report"))
  path = figures.rows_png(os.path.join(out, "translations.png"), list(rows.values()))
  return {f"Translations of {_GRID} test examples (rows: {', '.join(rows)})":
          os.path.relpath(path, workdir)}


def _figures(exp, state, workdir: str) -> dict:
  if exp.info["modality"] == "points":  # evaluation draws the samples as a scatter
    return {}
  shape = exp.test["image"].shape[1:]
  sampler = exp.fns.sampler
  out = figures.ensure_dir(os.path.join(workdir, "report"))
  # Fixed keys: the same z from one checkpoint to the next, so figures compare.
  z = sampler.latents(jax.random.key(0), _GRID * _GRID, sampling=True)
  samples = generate(exp, state, z, sampler.labels(_GRID * _GRID))
  figs = {f"Samples G(z), z from the {sampler.prior} prior": figures.rows_png(
      os.path.join(out, "samples.png"), list(samples.reshape(_GRID, _GRID, *shape)))}
  ends = sampler.latents(jax.random.key(1), 2 * _PAIRS, sampling=True)
  if isinstance(ends, tuple):  # a hierarchical z: interpolate the whole vector
    ends = np.concatenate(ends, axis=-1)
  ends = np.asarray(ends).reshape(2, _PAIRS, -1)
  interp = figures.interpolation_codes(ends[0], ends[1], _STEPS)
  row_labels = sampler.labels(_PAIRS)  # one class per row when conditional
  strip = generate(exp, state, interp,
                   None if row_labels is None else np.repeat(row_labels, _STEPS))
  figs["Latent interpolation z = αz₁ + (1−α)z₂, α from 1 to 0 (one pair per row)"] = (
      figures.rows_png(os.path.join(out, "interpolation.png"),
                       list(strip.reshape(_PAIRS, _STEPS, *shape))))
  figs = {k: os.path.relpath(v, workdir) for k, v in figs.items()}
  return {**figs, **large_gans.stage_grids(exp, workdir),
          **large_gans.attention_maps(exp, state, workdir)}

