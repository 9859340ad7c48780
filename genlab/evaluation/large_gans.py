"""What the large GANs add to a report: BigGAN's truncation curve, the attention
maps of SAGAN and BigGAN's self-attention blocks, and ProGAN's scores and grids by stage.

Truncation (`eval.truncation_curve`: the τ values to try): samples are drawn with z
truncated to [−τ, τ] (genlab.sampler) and scored like any samples; the curve shows the
trade BigGAN reported, fidelity (precision, class accuracy) for variety (recall), as τ
shrinks. Keys `truncation/<score>_t<τ>`.

Stages (networks that grew): `stages/<score>_s<k>` is the loop's last in-loop sample
score (metrics.jsonl, `monitor.sample_scores`) within stage k, with `stages/step_s<k>`
the step it was taken at; the grids are the loop's last sample grid of each stage.

Attention: G's self-attention block sows its map [B, queries, keys]
(genlab.nn.gan_layers.SelfAttention); for a few samples the figure shows, for three
query pixels, where in the image they attend (keys upsampled to the image).
"""

import dataclasses
import os

import jax
import numpy as np

from genlab import metrics
from genlab.evaluation import figures
from genlab.evaluation.sampling import requested_labels
from genlab.steps import game as game_lib

TRUNCATION_SCORES = ("dfid", "precision", "recall", "class_accuracy")
STAGE_SCORES = ("dfid", "class_entropy", "precision", "recall")
_ATTENTION_SAMPLES = 4
_QUERIES = ((0.3, 0.5), (0.5, 0.5), (0.7, 0.5))  # (row, col) as fractions of the map


def truncation_curve(exp, state, workdir: str, n: int, feature_net, real) -> tuple[dict, dict]:
  """({'truncation/<score>_t<τ>': value}, {title: figure}) for each τ of
  `eval.truncation_curve`; ({}, {}) when the config asks for none."""
  taus = tuple(exp.config.eval.get("truncation_curve", ()))
  if not taus or exp.fns.sampler is None:
    return {}, {}
  scores, curves = {}, {k: [] for k in TRUNCATION_SCORES}
  for tau in taus:
    sampler = dataclasses.replace(exp.fns.sampler, truncation=float(tau))
    at_tau = dataclasses.replace(exp, fns=dataclasses.replace(exp.fns, sampler=sampler))
    # The same key at every τ: the curve moves with τ, not with the draw.
    fake = exp.family.sample(at_tau, state, n, exp.rngs()["sample"], None)
    got = metrics.score_samples(exp.config, exp.info, fake, requested_labels(exp, n),
                                feature_net=feature_net, real=real)
    for key in TRUNCATION_SCORES:
      value = got.get(f"samples/{key}")
      if value is not None:
        scores[f"truncation/{key}_t{tau:g}"] = value
        curves[key].append(value)
  path = _plot(os.path.join(figures.ensure_dir(os.path.join(workdir, "report")),
                            "truncation.png"), taus, curves)
  return scores, {"Truncation: fidelity against variety as τ shrinks (z ∈ [−τ, τ])":
                  os.path.relpath(path, workdir)}


def _plot(path: str, taus, curves: dict) -> str:
  plt = figures.pyplot()
  fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
  for key in ("precision", "recall", "class_accuracy"):
    if curves[key]:
      left.plot(taus, curves[key], marker=".", label=key)
  left.set_xlabel("truncation τ")
  left.legend()
  left.grid(alpha=0.3)
  right.plot(taus, curves["dfid"], marker=".", color="tab:red")
  right.set_xlabel("truncation τ")
  right.set_ylabel("dfid")
  right.grid(alpha=0.3)
  for ax in (left, right):
    ax.invert_xaxis()  # τ falls to the right: more truncation
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def attention_maps(exp, state, workdir: str) -> dict:
  """{title: figure} of G's attention for a few samples; {} for a G without attention."""
  if exp.fns.sampler is None or "g" not in state.params:
    return {}
  sampler = exp.fns.sampler
  z = sampler.latents(jax.random.key(0), _ATTENTION_SAMPLES, sampling=True)
  labels = sampler.labels(_ATTENTION_SAMPLES)
  params, cols = game_lib.inference(state)["g"]
  variables = {"params": {"generator": params}, **{c: {"generator": v} for c, v in cols.items()}}
  images, sown = exp.model.apply(variables, z, labels, False, method="generate",
                                 mutable=["intermediates"])
  found = jax.tree_util.tree_leaves_with_path(sown.get("intermediates", {}))
  maps = [leaf for path, leaf in found if "attention" in jax.tree_util.keystr(path)]
  if not maps:
    return {}
  attention = np.asarray(maps[0])  # [B, queries, keys]
  images = np.asarray(images)
  rows = [_overlay(images[i], attention[i]) for i in range(_ATTENTION_SAMPLES)]
  out = figures.ensure_dir(os.path.join(workdir, "report"))
  path = figures.rows_png(os.path.join(out, "attention.png"), rows)
  return {"Self-attention of G: a sample, then where three query pixels (top, centre, "
          "bottom) look (one sample per row)": os.path.relpath(path, workdir)}


def _overlay(image: np.ndarray, attention: np.ndarray) -> np.ndarray:
  """[1 + queries, H, W, C]: the image, then each query's map upsampled to it."""
  height, width, channels = image.shape
  side_q = int(round(np.sqrt(attention.shape[0])))
  side_k = int(round(np.sqrt(attention.shape[1])))
  panels = [image]
  for row, col in _QUERIES:
    q = int(row * side_q) * side_q + int(col * side_q)
    heat = attention[q].reshape(side_k, side_k)
    heat = heat / max(float(heat.max()), 1e-12)
    big = np.kron(heat, np.ones((-(-height // side_k), -(-width // side_k))))[:height, :width]
    panels.append(np.repeat(big[..., None], channels, axis=-1))
  return np.stack(panels)


def _last_in_stage(exp, steps) -> dict:
  """{stage: the largest of `steps` that its stage trained} (a score or grid at step s
  shows the networks after step s − 1)."""
  last = {}
  for step in sorted(steps):
    if step > 0:
      last[exp.fns.stage_at(step - 1)] = step
  return last


def stage_scores(exp, records: list[dict]) -> dict:
  """{'stages/<score>_s<k>', 'stages/step_s<k>'} for networks that grew; {} otherwise."""
  if len(exp.fns.stages) < 2:
    return {}
  scored = {r["step"]: r for r in records if "samples/dfid" in r}
  out = {}
  for stage, step in sorted(_last_in_stage(exp, scored).items()):
    out[f"stages/step_s{stage}"] = step
    for name in STAGE_SCORES:
      if f"samples/{name}" in scored[step]:
        out[f"stages/{name}_s{stage}"] = scored[step][f"samples/{name}"]
  return out


def stage_grids(exp, workdir: str) -> dict:
  """{title: path}: the loop's last sample grid of each stage, for networks that grew."""
  folder = os.path.join(workdir, "samples")
  if len(exp.fns.stages) < 2 or not os.path.isdir(folder):
    return {}
  steps = [int(f[len("samples_"):-len(".png")]) for f in os.listdir(folder)
           if f.startswith("samples_") and f.endswith(".png")]
  return {f"Samples at the end of stage {stage} (step {step}; shown at full size)":
          os.path.join("samples", f"samples_{step:07d}.png")
          for stage, step in sorted(_last_in_stage(exp, steps).items())}
