"""report.md: what was trained, what it scored, how it trained, what it looks like."""

import os

from genlab.evaluation import figures
from genlab.writers import read_metrics

_CURVE_KEYS = ["train/loss", "test/loss", "test/mse", "test/neg_elbo", "train/kl",
               "train/grad_norm", "train/steps_per_sec"]

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
}


def _fmt(v) -> str:
  if isinstance(v, float):
    return f"{v:.4g}"
  return str(v)


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
      f"(batch {c.data.batch_size}, {c.optim.name} lr {c.optim.learning_rate}, "
      f"{c.optim.schedule} schedule, seed {c.seed}). Full config: `config.json`.",
      "",
      "## Scores (test split)",
      "",
      "| metric | value |",
      "|---|---|",
      *[f"| `{k}` | {_fmt(v)} |" for k, v in sorted(metrics.items()) if k != "step"],
      "",
      _CONVENTIONS.get(c.step_family, ""),
      "",
  ]
  if curves:
    lines += ["## Training curves", "", f"![curves]({os.path.relpath(curves, workdir)})", ""]
  for title, path in figs.items():
    lines += [f"## {title}", "", f"![{title}]({path})", ""]
  path = os.path.join(workdir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path
