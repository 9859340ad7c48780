"""Trains and evaluates configs one after another and prints README's tables.

  python -m experiments.measure --root=runs/measure [--only=ae,conv_ae] [--noanomaly]

Each row runs `experiments.main` then `experiments.evaluate` in a fresh process,
sequentially (timings are wall-clock on whatever machine runs this), and reads the
figures from DIR/eval.json. The representation rows also run `experiments.anomaly`
(10 one-class trainings) into ROOT/anomaly/NAME. Existing workdirs resume, so
rerunning only evaluates. Each command's stderr goes to ROOT/logs/NAME.COMMAND.log; a
command that fails stops the table with one line naming its row, itself and its log.
"""

import json
import os
import subprocess
import sys
import time

from absl import flags

from experiments import cli
from genlab.errors import UserError

_ROOT = flags.DEFINE_string("root", "runs/measure", "parent of the workdirs")
_ONLY = flags.DEFINE_list("only", [], "row names to run (default: all)")
_ANOMALY = flags.DEFINE_bool("anomaly", True, "run the one-class anomaly protocol too")

# (row name, config arg, eval.json keys to show)
_AE_KEYS = ["test/mse", "baseline/pca_mse", "test/mse_over_pca", "test/psnr"]
_VAE_KEYS = ["test/neg_elbo", "test/nll_iwae", "test/rec", "test/kl", "test/active_units"]
_TOY_KEYS = ["samples/modes", "samples/hq_fraction", "samples/reverse_kl", "test/neg_elbo"]
_GAN_KEYS = ["samples/dfid", "samples/precision", "samples/recall", "samples/class_entropy"]
ROWS = [
    ("ae", "ae.py", _AE_KEYS),
    ("ae_over", "ae.py:over", _AE_KEYS),
    ("ae_tied", "ae.py:tied", _AE_KEYS),
    ("ae_sgd", "ae.py:sgd", _AE_KEYS),
    ("stacked_ae", "stacked_ae.py", _AE_KEYS),
    ("stacked_ae_layerwise", "stacked_ae.py:layerwise", _AE_KEYS),
    ("stacked_ae_shallow", "stacked_ae.py:shallow", _AE_KEYS),
    ("sparse_ae", "sparse_ae.py", ["test/mse", "test/mean_activation", "config/rho"]),
    ("sparse_ae_running", "sparse_ae.py:running",
     ["test/mse", "test/mean_activation", "config/rho"]),
    ("denoising_ae", "denoising_ae.py",
     ["test/psnr_noisy", "test/psnr_denoised", "test/psnr_gain", "test/mse"]),
    ("denoising_ae_over", "denoising_ae.py:over",
     ["test/psnr_noisy", "test/psnr_denoised", "test/psnr_gain", "test/mse"]),
    ("conv_ae", "conv_ae.py", _AE_KEYS),
    ("conv_ae_code8", "conv_ae.py:code=8", _AE_KEYS),
    ("vae", "vae.py", _VAE_KEYS),
    ("vae_conv", "vae.py:conv", _VAE_KEYS),
    ("vae_latent2", "vae.py:latent2", _VAE_KEYS),
    ("vae_gaussian", "vae.py:gaussian", _VAE_KEYS),
    ("vae_ring8", "vae.py:ring8", _TOY_KEYS),
    ("vae_grid25", "vae.py:grid25", _TOY_KEYS),
    ("classifier", "classifier.py", ["test/accuracy", "test/loss"]),
    ("gan", "gan.py", ["samples/dfid", "samples/precision", "samples/recall",
                       "samples/class_entropy", "test/d_real", "test/d_fake"]),
    ("gan_grid25", "gan.py:grid25", _TOY_KEYS[:3] + ["test/d_real", "test/d_fake"]),
    ("gan_grid25_best", "gan.py:grid25_best", _TOY_KEYS[:3]),
    ("gan_ring8", "gan.py:ring8", _TOY_KEYS[:3]),
    ("gan_ring8_best", "gan.py:ring8_best", _TOY_KEYS[:3]),
    ("dcgan", "dcgan.py", _GAN_KEYS),
    ("cgan", "cgan.py", _GAN_KEYS + ["samples/class_accuracy"]),
    ("wgan", "wgan.py", _GAN_KEYS + ["health/critic_dfid_spearman"]),
    ("wgan_gp", "wgan.py:gp", _GAN_KEYS + ["health/critic_dfid_spearman"]),
    ("cyclegan", "cyclegan.py", ["test/cycle_a", "test/cycle_b", "test/d_a_loss",
                                 "test/d_b_loss"]),
]
# The lecture's representation claims, checked by probes and one-class anomaly AUROC.
REPRESENTATION_ROWS = ["ae", "ae_over", "stacked_ae", "stacked_ae_layerwise",
                       "stacked_ae_shallow", "sparse_ae", "denoising_ae", "denoising_ae_over",
                       "conv_ae", "conv_ae_code8", "vae", "vae_conv"]
_SAMPLE_KEYS = ["samples/dfid", "samples/dkid", "samples/precision", "samples/recall",
                "samples/density", "samples/coverage", "samples/class_entropy"]
_PROBE_KEYS = ["acc_10", "acc_100", "acc_all"]


def _python(name: str, *args: str) -> None:
  """`python -m ARGS`, its stderr kept in ROOT/logs/NAME.COMMAND.log."""
  logs = os.path.join(_ROOT.value, "logs")
  os.makedirs(logs, exist_ok=True)
  log = os.path.join(logs, f"{name}.{args[0].rsplit('.', 1)[-1]}.log")
  with open(log, "w") as err:
    code = subprocess.run([sys.executable, "-m", *args], stderr=err,
                          stdout=subprocess.DEVNULL, check=False).returncode
  if code:
    raise UserError(f"row {name}: `python -m {' '.join(args)}` exited {code}; log: {log}")


def _measure(name: str, arg: str) -> tuple[dict, float, dict | None]:
  workdir = os.path.join(_ROOT.value, name)
  t0 = time.perf_counter()
  _python(name, "experiments.main", f"--config=experiments/configs/{arg}", f"--workdir={workdir}")
  seconds = time.perf_counter() - t0
  _python(name, "experiments.evaluate", f"--workdir={workdir}")
  with open(os.path.join(workdir, "eval.json")) as f:
    metrics = json.load(f)
  anomaly = None
  if _ANOMALY.value and name in REPRESENTATION_ROWS:
    root = os.path.join(_ROOT.value, "anomaly", name)
    _python(name, "experiments.anomaly", f"--config=experiments/configs/{arg}",
            f"--workdir={root}")
    with open(os.path.join(root, "anomaly.json")) as f:
      anomaly = json.load(f)
  return metrics, seconds, anomaly


def _fmt(v) -> str:
  return f"{v:.4g}" if isinstance(v, float) else str(v)


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  unknown = sorted(set(_ONLY.value) - {name for name, _, _ in ROWS})
  if unknown:
    raise UserError(f"--only: no row {', '.join(unknown)}; rows: "
                    f"{', '.join(name for name, _, _ in ROWS)}")
  results = {}
  print("| config | command | steps | train time | figures (test split) |")
  print("|---|---|---|---|---|")
  for name, arg, keys in ROWS:
    if _ONLY.value and name not in _ONLY.value:
      continue
    results[name] = _measure(name, arg)
    metrics, seconds, _ = results[name]
    shown = ", ".join(f"`{k}` {_fmt(metrics[k])}" for k in keys if k in metrics)
    print(f"| `{arg}` | `python -m experiments.main --config=experiments/configs/{arg} "
          f"--workdir=DIR` | {metrics['step']} | {seconds:.0f} s | {shown} |", flush=True)
  args = {name: arg for name, arg, _ in ROWS}

  print("\n| config | " + " | ".join(k.split("/")[1] for k in _SAMPLE_KEYS) + " |")
  print("|---|" + "---|" * len(_SAMPLE_KEYS))
  for name, (metrics, _, _) in results.items():
    if "samples/dfid" in metrics:
      print(f"| `{args[name]}` | " + " | ".join(_fmt(metrics[k]) for k in _SAMPLE_KEYS) + " |")

  print("\n| features | code | probe acc_10 | acc_100 | acc_all | anomaly auroc/mean |")
  print("|---|---|---|---|---|---|")
  baseline = None
  for name in REPRESENTATION_ROWS:
    if name not in results:
      continue
    metrics, _, anomaly = results[name]
    baseline = baseline or metrics
    auroc = _fmt(anomaly["auroc/mean"]) if anomaly else "–"
    print(f"| `{args[name]}` | {metrics['probe/code_size']} | " +
          " | ".join(_fmt(metrics[f"probe/{k}"]) for k in _PROBE_KEYS) + f" | {auroc} |")
  if baseline:
    for prefix, label, size in [("pixels_", "pixels", "784"),
                                ("pca_", "PCA", str(baseline["probe/pca_components"]))]:
      print(f"| {label} | {size} | " +
            " | ".join(_fmt(baseline[f"probe/{prefix}{k}"]) for k in _PROBE_KEYS) + " | – |")


if __name__ == "__main__":
  cli.run_main(main)
