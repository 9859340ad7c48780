"""One-class anomaly detection: train on one class, score every test image, AUROC.

Protocol, for each class c of a labelled dataset:
  1. train the config on the training images of class c only
     (`data.train_classes = (c,)`) in ROOT/class_c, a normal genlab workdir;
  2. score every test image (all classes) with the step family's per-example
     score (the family's `anomaly_score`: the relative reconstruction error ‖x̂ − x‖²/‖x‖²
     for autoencoders, −ELBO for VAEs), higher = more anomalous;
  3. report the AUROC of "not c" (positive = anomaly) against "c".
The mean AUROC over the classes run is the headline number.

Step scaling: each class trains for the SAME NUMBER OF EPOCHS as the config does
on the full training set, i.e.
  scale = n_class_train / n_train  (or --steps / train.num_steps when given),
  num_steps = round(train.num_steps × scale), at least 1 (= --steps when given),
and every other step count is scaled by the same factor (rounded, at least 1 when
it was > 0): `train.layerwise_steps`, `train.checkpoint_every` (capped at
num_steps, so an interrupted class resumes from its last checkpoint),
`optim.warmup_steps` and `vae.kl_warmup_steps`. Evaluation and sample grids run
once, at the end (`eval_every = sample_every = num_steps`), and
`log_every = min(log_every, num_steps)`. On mnist5k (400 of 4,000 training
images per class) the AE's 3,000 steps become 300 per class.

Rerunning the same command resumes: finished classes are not retrained (their
checkpoint is at num_steps) and a partial one continues from its checkpoint.
"""

import copy
import json
import os
from typing import Callable

import ml_collections
import numpy as np

from genlab import data, experiment, families, train
from genlab.errors import UserError
from genlab.evaluation import figures

N_SHOWN = 8  # most normal and most anomalous test images per class in the figure


def score_key(step_family: str) -> str:
  """The eval_step key scoring anomalies for `step_family` (its `anomaly_score`), or a
  one-line error naming the families that have one."""
  return families.with_anomaly_score(step_family).anomaly_score


def scaled(value: int, scale: float) -> int:
  """round(value × scale), at least 1 unless `value` is 0 (= switched off)."""
  return max(1, round(value * scale)) if value > 0 else 0


def class_config(config: ml_collections.ConfigDict, cls: int, n_class: int, n_train: int,
                 steps: int | None = None) -> ml_collections.ConfigDict:
  """`config` trained on class `cls` only, with step counts scaled (module docstring).

  Args:
    config: the base experiment config (not modified).
    cls: the one training class.
    n_class: training images of class `cls`.
    n_train: training images of all classes.
    steps: train this many steps instead of the same number of epochs.
  Returns:
    A locked copy with `data.train_classes = (cls,)` and scaled `train` fields.
  """
  base = config.train.num_steps
  scale = steps / base if steps else n_class / n_train
  c = copy.deepcopy(config)
  c.data.train_classes = (cls,)
  t = c.train
  t.num_steps = steps or scaled(base, scale)
  t.eval_every = t.sample_every = t.num_steps
  t.log_every = min(t.log_every, t.num_steps)
  t.checkpoint_every = min(scaled(t.checkpoint_every, scale), t.num_steps)
  t.layerwise_steps = scaled(t.layerwise_steps, scale)
  c.optim.warmup_steps = scaled(c.optim.warmup_steps, scale)
  if "vae" in c:
    c.vae.kl_warmup_steps = scaled(c.vae.kl_warmup_steps, scale)
  c.lock()
  return c


def check_classes(classes, num_classes: int, dataset: str) -> list[int]:
  """Sorted, de-duplicated classes; a one-line UserError for any out of range."""
  if num_classes < 2:
    raise UserError(f"one-class anomaly detection needs a labelled dataset with at least "
                    f"2 classes; {dataset!r} has {num_classes}")
  if classes is None or len(classes) == 0:
    return list(range(num_classes))
  bad = [c for c in classes if not 0 <= c < num_classes]
  if bad:
    raise UserError(f"--classes: {', '.join(map(str, bad))} out of range for {dataset!r} "
                    f"(classes 0..{num_classes - 1})")
  return sorted(set(int(c) for c in classes))


def auroc(scores: np.ndarray, labels: np.ndarray, cls: int) -> float:
  """AUROC of "not cls" (positive) against "cls", higher score = more anomalous."""
  if not np.all(np.isfinite(scores)):
    raise UserError(f"class {cls}: non-finite anomaly scores (did training diverge?)")
  # Imported on use: sklearn takes ~2 s to import, which every command would pay.
  from sklearn import metrics as sk_metrics  # pylint: disable=import-outside-toplevel
  return float(sk_metrics.roc_auc_score(labels != cls, scores))


def score_test_split(workdir: str, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per-example `key` of a trained workdir on its test split: (scores, images, labels)."""
  exp, state = experiment.restore(workdir)
  per_example = exp.evaluate_split(state, exp.rngs()["eval"])
  return per_example[key], exp.test["image"], exp.test["label"]


def extremes(images: np.ndarray, scores: np.ndarray, n: int = N_SHOWN) -> np.ndarray:
  """The n lowest-scoring then the n highest-scoring images, as [0, 1] floats."""
  order = np.argsort(scores, kind="stable")
  return np.concatenate([images[order[:n]], images[order[-n:]]]).astype(np.float32) / 255.0


def run(config: ml_collections.ConfigDict, root: str, *, classes=None, steps: int | None = None,
        config_arg: str = "", log: Callable[[str], None] = print) -> dict:
  """Runs the protocol for `classes` (default: all) and writes ROOT/anomaly.{json,md,png}.

  Args:
    config: the base experiment config (its `data.train_classes` must be empty).
    root: output directory; each class trains in ROOT/class_<c>.
    classes: class indices to run; None or empty for every class of the dataset.
    steps: training steps per class; None for the base config's epochs.
    config_arg: the --config argument, recorded in anomaly.json.
    log: called with one line per finished class.
  Returns:
    The anomaly.json dict.
  """
  # Everything that can fail on the user's input fails here, before any training.
  key = score_key(config.step_family)
  if config.data.get("train_classes"):
    raise UserError("the anomaly protocol sets data.train_classes per class; leave it empty "
                    f"(got {tuple(config.data.train_classes)})")
  if steps is not None and steps < 1:
    raise UserError(f"--steps must be at least 1, got {steps}")
  data_dir = config.data.data_dir or None
  info = data.dataset_info(config.data.name, data_dir)
  classes = check_classes(classes, info["num_classes"], config.data.name)
  if not info["num_test"]:
    raise UserError(f"{config.data.name!r} has no test split to score")
  _write_or_check_base_config(config, root)
  train_labels = data.load_arrays(config.data.name, "train", data_dir)[1]
  n_train = len(train_labels)

  results, rows, per_class = {}, [], {}
  for c in classes:
    n_class = int(np.sum(train_labels == c))
    config_c = class_config(config, c, n_class, n_train, steps)
    workdir = os.path.join(root, f"class_{c}")
    train.run(config_c, workdir)
    scores, images, labels = score_test_split(workdir, key)
    results[c] = auroc(scores, labels, c)
    per_class[c] = (n_class, config_c.train.num_steps)
    if len(info["image_shape"]) == 3:
      rows.append(extremes(images, scores))
    log(f"class {c}: AUROC {results[c]:.4f} ({n_class} training images, "
        f"{config_c.train.num_steps} steps)")

  step_counts = {c: s for c, (_, s) in per_class.items()}
  out = {f"auroc/c{c}": v for c, v in results.items()}
  out["auroc/mean"] = float(np.mean(list(results.values())))
  out["protocol/config"] = config_arg
  # One number when every class trains equally long (always with --steps).
  out["protocol/steps_per_class"] = (next(iter(step_counts.values()))
                                     if len(set(step_counts.values())) == 1 else step_counts)
  out["protocol/score"] = key
  out["protocol/train_per_class"] = {c: n for c, (n, _) in per_class.items()}
  out["protocol/n_test"] = int(len(labels))
  with open(os.path.join(root, "anomaly.json"), "w") as f:
    json.dump(out, f, indent=2)
  figure = figures.rows_png(os.path.join(root, "anomaly.png"), rows) if rows else None
  with open(os.path.join(root, "anomaly.md"), "w") as f:
    f.write(report(out, per_class, config.data.name, figure))
  return out


_SCORE_NAMES = {"mse": "reconstruction error (per-pixel MSE)",
                "neg_elbo": "−ELBO (nats, one posterior sample)"}


def report(out: dict, per_class: dict, dataset: str, figure: str | None) -> str:
  """anomaly.md: the per-class table, the mean, the protocol and the figure."""
  key = out["protocol/score"]
  lines = ["# One-class anomaly detection", "",
           f"Config: `{out['protocol/config'] or '(in-process)'}`, dataset `{dataset}`.", "",
           "| class | training images | steps | AUROC |", "|---:|---:|---:|---:|"]
  for c, (n, s) in per_class.items():
    lines.append(f"| {c} | {n:,} | {s:,} | {out[f'auroc/c{c}']:.4f} |")
  lines += [f"| **mean** | | | **{out['auroc/mean']:.4f}** |", "",
            f"Protocol: for each class c, the model is trained on the class-c images of the "
            f"train split only, for the same number of epochs as the base config on the whole "
            f"split (see genlab/anomaly.py). Every test image ({out['protocol/n_test']:,}, all "
            f"classes) is scored by its {_SCORE_NAMES.get(key, key)}; higher means more "
            f"anomalous. The AUROC is that of \"not c\" (positive = anomaly) against \"c\"; "
            f"0.5 is chance.", ""]
  if figure:
    lines += [f"![most normal and most anomalous test images]({os.path.basename(figure)})", "",
              f"One row per class, in table order: the {N_SHOWN} most normal test images "
              f"(lowest score, left) then the {N_SHOWN} most anomalous (highest score, right).",
              ""]
  return "\n".join(lines)


def _write_or_check_base_config(config: ml_collections.ConfigDict, root: str) -> None:
  """Records the base config in ROOT/anomaly_config.json; refuses a different one."""
  path = os.path.join(root, "anomaly_config.json")
  text = experiment.config_to_json(config)
  if os.path.exists(path):
    with open(path) as f:
      if json.load(f) != json.loads(text):
        raise experiment.ConfigMismatchError(
            f"{root!r} holds an anomaly run with a different config ({path}); use a new "
            "--workdir or rerun with the same config")
    return
  os.makedirs(root, exist_ok=True)
  with open(path, "w") as f:
    f.write(text)
