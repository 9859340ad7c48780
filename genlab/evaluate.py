"""Evaluation of a trained workdir: eval.json, report.md and figures.

The step family's evaluator (`StepFamily.evaluate`) scores the test split and draws
its figures; sample quality (when the family samples) and linear probes (when it
encodes) are added here, under one protocol for every family.
"""

import json
import os

import numpy as np

from genlab import data, experiment, metrics
from genlab.data import toy
from genlab.evaluation import figures_2d, large_gans, report, representation
from genlab.evaluation.sampling import requested_labels, translations

restore = experiment.restore  # (Experiment, TrainState) of a workdir's newest checkpoint


def needs_feature_net(config, info: dict) -> bool:
  """Whether evaluating `config` scores image samples (and so needs a feature net)."""
  return info["modality"] == "images" and bool(config.eval.num_samples)


def evaluate(workdir: str, feature_net=None) -> dict:
  """Evaluates the newest checkpoint of `workdir`.

  Writes workdir/eval.json, workdir/report.md and PNGs under workdir/report/.

  Args:
    workdir: a genlab workdir.
    feature_net: the dataset's FeatureNet (genlab.feature_nets.get) when the family
      samples images; None skips nothing silently: scoring then raises a UserError.
  Returns:
    The metrics written to eval.json.
  """
  exp, state = restore(workdir)
  scores, figs = exp.family.evaluate(exp, state, workdir, exp.rngs()["eval"])
  scores = {"step": int(state.step), **scores,
            **_sample_scores(exp, state, workdir, figs, feature_net)}
  if exp.config.eval.probe and exp.info["modality"] == "images" and exp.family.encode:
    scores.update(representation.probe_metrics(exp, state))
  with open(os.path.join(workdir, "eval.json"), "w") as f:
    json.dump(scores, f, indent=2, sort_keys=True)
  report.write(workdir, exp.config, scores, figs)
  return scores


def _sample_scores(exp, state, workdir: str, figs: dict, feature_net) -> dict:
  """Sample-quality scores of the family's sampler (adds a scatter figure for points)."""
  n = exp.config.eval.num_samples
  if n and exp.fns.translate is not None:
    return _translation_scores(exp, state, n, feature_net)
  if not n or exp.family.sample is None or (
      exp.family.network is None and exp.fns.generate is None):
    return {}
  fake = exp.family.sample(exp, state, n, exp.rngs()["sample"], None)
  if exp.info["modality"] == "points":
    spec = toy.TOY_SETS[exp.config.data.name]
    path = figures_2d.scatter_over_modes(os.path.join(workdir, "report", "samples_2d.png"),
                                         fake, spec.centers, spec.sigma)
    figs[f"{n} samples over the modes (circles: 3σ)"] = os.path.relpath(path, workdir)
    return metrics.score_samples(exp.config, exp.info, fake, requested_labels(exp, n))
  real, _ = data.load_arrays(exp.config.data.name, metrics.REAL_SPLIT,
                             exp.config.data.data_dir or None)
  scores = metrics.score_samples(exp.config, exp.info, fake, requested_labels(exp, n),
                                 feature_net=feature_net, real=real)
  curve, curve_figs = large_gans.truncation_curve(exp, state, workdir, n, feature_net, real)
  figs.update(curve_figs)
  return {**scores, **curve}


def _translation_scores(exp, state, n: int, feature_net) -> dict:
  """Each direction's translations of the first n test examples, scored against the
  real test images of its target field (`samples/*`), and the fraction the target
  field's classifier assigns to the source's class (`test/class_kept`). A game that
  translates both ways gets `_<direction>` after each name.

  `feature_net`: one FeatureNet for every target field, or {field: FeatureNet}.
  """
  n = min(n, len(next(iter(exp.test.values()))))
  outputs = translations(exp, state, exp.test, n, exp.rngs()["sample"])
  scores = {}
  for direction, field in exp.fns.translations.items():
    net = feature_net.get(field) if isinstance(feature_net, dict) else feature_net
    got = metrics.score_samples(exp.config, exp.info, outputs[direction],
                                feature_net=net, real=exp.test[field][:n])
    label = exp.fns.source_labels.get(direction)
    if label:
      got["test/class_kept"] = float(np.mean(net.predict(outputs[direction])
                                             == exp.test[label][:n]))
    suffix = "" if len(outputs) == 1 else f"_{direction}"
    scores.update({k if k.startswith("protocol/") else f"{k}{suffix}": v
                   for k, v in got.items()})
    if suffix:  # each direction's own protocol: its feature net
      for key in ("protocol/feature_net", "protocol/classifier_accuracy"):
        scores[f"{key}{suffix}"] = got[key]
  if len(outputs) > 1:  # two domains: the yardsticks of the cycle's L1 and class_kept
    scores.update(_same_class_l1(exp.test, sorted(exp.fns.translations.values())))
    scores.update(_untranslated_class_kept(exp, n, feature_net))
  return scores


def _untranslated_class_kept(exp, n: int, feature_net) -> dict:
  """What `test/class_kept_<direction>` would be for a translation that changed nothing:
  the fraction of the source domain's first n test images, untranslated, that the
  target domain's classifier puts in their class (`baseline/class_kept_untranslated_*`).
  A translation is credited only with what it keeps above what its judge reads anyway."""
  fields = set(exp.fns.translations.values())
  out = {}
  for direction, target in exp.fns.translations.items():
    (source,) = fields - {target}
    net = feature_net.get(target) if isinstance(feature_net, dict) else feature_net
    out[f"baseline/class_kept_untranslated_{direction}"] = float(np.mean(
        net.predict(exp.test[source][:n]) == exp.test[f"{source}_label"][:n]))
  return out


def _same_class_l1(split: dict, fields: list[str]) -> dict:
  """The mean L1 distance (pixels in [0, 1]) between a test image of each domain and a
  random other image of its class (`<field>_label`), per domain
  (`baseline/same_class_l1_<field>`) and averaged (`baseline/same_class_l1`, the
  yardstick of `test/cycle_l1`). Repeated images count once; seed 0."""
  rng = np.random.default_rng(0)
  out = {}
  for field in fields:
    flat = split[field].reshape(len(split[field]), -1)
    images, keep = np.unique(flat, axis=0, return_index=True)
    labels = split[f"{field}_label"][keep]
    dists = []
    for i, label in enumerate(labels):
      others = np.flatnonzero((labels == label) & (np.arange(len(labels)) != i))
      if len(others):
        other = images[rng.choice(others)].astype(np.float32)
        dists.append(np.mean(np.abs(images[i].astype(np.float32) - other)) / 255.0)
    out[f"baseline/same_class_l1_{field}"] = float(np.mean(dists))
  out["baseline/same_class_l1"] = float(np.mean(list(out.values())))
  return out
