"""Trains and evaluates configs one after another and prints README's figures table.

  python -m experiments.measure --root=runs/measure [--only=ae,conv_ae]

Each row runs `experiments.main` then `experiments.evaluate` in a fresh process,
sequentially (timings are wall-clock on whatever machine runs this), and reads the
figures from DIR/eval.json. Existing workdirs resume, so rerunning only evaluates.
"""

import json
import os
import subprocess
import sys
import time

from absl import app, flags

_ROOT = flags.DEFINE_string("root", "runs/measure", "parent of the workdirs")
_ONLY = flags.DEFINE_list("only", [], "row names to run (default: all)")

# (row name, config arg, eval.json keys to show)
_AE_KEYS = ["test/mse", "baseline/pca_mse", "test/mse_over_pca", "test/psnr"]
_VAE_KEYS = ["test/neg_elbo", "test/nll_iwae", "test/rec", "test/kl", "test/active_units"]
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
    ("vae", "vae.py", _VAE_KEYS),
    ("vae_conv", "vae.py:conv", _VAE_KEYS),
    ("vae_latent2", "vae.py:latent2", _VAE_KEYS),
    ("vae_gaussian", "vae.py:gaussian", _VAE_KEYS),
]


def _row(name: str, arg: str, keys: list[str]) -> str:
  workdir = os.path.join(_ROOT.value, name)
  cmd = [sys.executable, "-m", "experiments.main",
         f"--config=experiments/configs/{arg}", f"--workdir={workdir}"]
  t0 = time.perf_counter()
  subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
  seconds = time.perf_counter() - t0
  subprocess.run([sys.executable, "-m", "experiments.evaluate", f"--workdir={workdir}"],
                 check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  with open(os.path.join(workdir, "eval.json")) as f:
    metrics = json.load(f)
  shown = ", ".join(f"`{k}` {metrics[k]:.4g}" for k in keys if k in metrics)
  return (f"| `{arg}` | `python -m experiments.main --config=experiments/configs/{arg} "
          f"--workdir=DIR` | {metrics['step']} | {seconds:.0f} s | {shown} |")


def main(argv):
  del argv
  print("| config | command | steps | train time | figures (test split) |")
  print("|---|---|---|---|---|")
  for name, arg, keys in ROWS:
    if not _ONLY.value or name in _ONLY.value:
      print(_row(name, arg, keys), flush=True)


if __name__ == "__main__":
  app.run(main)
