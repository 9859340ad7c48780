"""report.md: what was trained, what it scored, how it trained, what it looks like."""

import os

from genlab import monitor
from genlab.data import toy
from genlab.evaluation import figures
from genlab.writers import read_metrics

_CURVE_KEYS = ["train/loss", "test/loss", "test/mse", "test/neg_elbo", "test/accuracy", "train/kl",
               "train/d_loss", "train/g_loss", "train/d_real", "train/d_fake",
               "train/grad_norm", "samples/dfid", "samples/class_entropy",
               "train/steps_per_sec"]

_CONVENTIONS = {
    "reconstruction": (
        "Conventions: pixels in [0, 1]; `mse` is per pixel; `psnr` is the mean over images "
        "of 10·log10(1/mse_image) in dB; `baseline/pca_mse` is PCA with as many components "
        "as the code size, fitted on the train split."),
    "elbo": (
        "Conventions: nats per image on the test split binarized once with a fixed seed "
        "(the same digits for every run); `neg_elbo` = `rec` + `kl` at β = 1 with one "
        "posterior sample per image; `nll_iwae` is the importance-weighted bound with "
        "`config/iwae_k` samples; `active_units` counts latent dimensions whose posterior-"
        "mean variance across the test set exceeds 0.01."),
    "adversarial": (
        "Conventions: `d_real` is the mean of D(x) = sigmoid(logit) over the test images, "
        "`d_fake` the mean of D(G(z)) over as many fresh fakes (one z per test image; the "
        "EMA generator, with its own batch statistics, when `gan.ema_decay` > 0), both "
        "networks in inference mode; `d_loss` and `g_loss` are the game's own losses "
        "(`gan.loss`) on those pairs, and `loss` = `d_loss` (for the minimax and "
        "non-saturating games D's cross-entropy −log D(x) − log(1 − D(G(z))), in nats: "
        "2·log 2 = 1.386 at the equilibrium D = ½). They describe the game at the last "
        "step, not sample quality (see `samples/*`); for a Wasserstein critic the sigmoid "
        "of its score is no probability. `model/params` counts every player together, "
        "`model/<player>_params` each one."),
}


# Paragraphs added when a report holds keys with this prefix (README "Metrics and protocols").
_KEY_NOTES = {
    "samples/dfid": (
        "Sample quality: `protocol/n_fake` samples against as many real images of the "
        "`protocol/real_split` split, embedded by the dataset's own classifier "
        "(`protocol/feature_net`, test accuracy `protocol/classifier_accuracy`). `dfid` is "
        "the Fréchet distance of Gaussians fitted to the features; `dkid` the unbiased "
        "polynomial-kernel MMD² (mean over 100 subsets of half the samples); `precision`/"
        "`recall` are k-NN manifold coverage (k = `protocol/prdc_k`, Kynkäänniemi et al. "
        "2019), `density`/`coverage` as Naeem et al. 2020; `class_entropy` is the entropy "
        "(nats) of the classifier's predicted-class histogram (log 10 = 2.303: all digits "
        "equally present)."),
    "samples/modes": (
        "Mode coverage (PacGAN protocol): `modes` counts mixture components with at least "
        "one high-quality sample (within 3σ of its nearest mode); `hq_fraction` is the "
        "fraction of such samples; `reverse_kl` is KL(high-quality samples' mode histogram "
        "‖ uniform)."),
    "samples/class_accuracy": (
        "`class_accuracy`: the fraction of a conditional model's samples that the "
        "classifier assigns to the class they were drawn for (classes in turn)."),
    "health/critic_dfid_spearman": (
        "`health/critic_dfid_spearman`: Spearman rank correlation, over the in-loop "
        "evaluations, between D's loss estimate (for the Wasserstein loss −d_loss, the "
        "critic's estimate of W(p_data, p_g)) and the samples' dFID; near 1 when the "
        "critic's estimate falls as sample quality improves."),
    "probe/acc_all": (
        "Linear probe: logistic regression on frozen codes of the train split (standardized "
        "with the statistics of the whole, unlabelled train split) "
        "with 10 and 100 labels per class (mean of 5 random draws, `_std` their spread) and "
        "all labels; test-split accuracy. `pixels_*` and `pca_*` are the same probe on raw "
        "pixels and on PCA with as many components as the code (capped at the pixel count)."),
}


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return str(v)


def _optimizer(c) -> str:
  describe = lambda o: f"{o.name} lr {o.learning_rate}, {o.schedule} schedule"
  if "name" in c.optim:
    return describe(c.optim)
  players = ", ".join(f"{name}: {describe(o)}" for name, o in sorted(c.optim.items()))
  if "gan" in c:
    return f"{c.gan.loss} loss, {players}, {c.gan.n_critic} D update(s) per G update"
  return players


def _gan_health(records: list, config, metrics: dict) -> list[str]:
  """The "GAN health" section: alarms the loop logged, then the final samples' check."""
  steps: dict = {}
  for r in records:
    for key in r:
      if key.startswith("alarm/"):
        steps.setdefault(key[len("alarm/"):], []).append(r["step"])
  lines = ["## GAN health", ""]
  if steps:
    lines += ["| alarm | raised at step(s) | meaning |", "|---|---|---|",
              *[f"| `{name}` | {', '.join(map(str, s))} | {monitor.GAN_ALARMS.get(name, '')} |"
                for name, s in sorted(steps.items())]]
  else:
    lines.append("no alarm during training.")
  cfg, why = config.get("monitor"), None
  if cfg is not None:
    # Absolute rules only: the loop's drops against its best are alarms already, and
    # its mode counts use another sample size than `eval.num_samples`.
    spec = toy.TOY_SETS.get(config.data.name)
    why = monitor.sample_collapse(
        cfg, {k: v for k, v in metrics.items() if k.startswith("samples/")},
        num_modes=None if spec is None else len(spec.centers))
  if why:  # the class entropy of image samples is only measured here
    lines += ["", f"Final samples: {why}."]
  lines += ["", "Alarms are genlab.monitor's rules on the logged train metrics "
            "(thresholds in the config's `monitor` section; see `alarm/*` in metrics.jsonl).", ""]
  return lines


def write(workdir: str, config, metrics: dict, figs: dict) -> str:
  """Writes workdir/report.md and returns its path."""
  records = read_metrics(workdir)
  curves = figures.training_curves(
      os.path.join(figures.ensure_dir(os.path.join(workdir, "report")), "curves.png"),
      records, _CURVE_KEYS)
  c = config
  lines = [
      f"# genlab report: `{c.model.name}` on `{c.data.name}`",
      "",
      f"Step family `{c.step_family}`, trained for {metrics['step']} steps "
      f"(batch {c.data.batch_size}, {_optimizer(c)}, seed {c.seed}). Full config: `config.json`.",
      "",
      "## Scores (test split)",
      "",
      "| metric | value |",
      "|---|---|",
      *[f"| `{k}` | {_fmt(v)} |" for k, v in sorted(metrics.items()) if k != "step"],
      "",
      _CONVENTIONS.get(c.step_family, ""),
      "",
      *[f"{note}\n" for key, note in _KEY_NOTES.items() if key in metrics],
  ]
  if c.step_family == "adversarial":
    lines += _gan_health(records, c, metrics)
  if curves:
    lines += ["## Training curves", "", f"![curves]({os.path.relpath(curves, workdir)})", ""]
  for title, path in figs.items():
    lines += [f"## {title}", "", f"![{title}]({path})", ""]
  path = os.path.join(workdir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path
