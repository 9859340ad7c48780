"""experiments.sample through the real entry point."""

import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import ae, vae
from genlab import train

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _sample(*args):
  return subprocess.run([sys.executable, "-m", "experiments.sample", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def _trained_on_digits(config, workdir: str) -> str:
  """Trains a smoke config on the 8×8 digits (fast) and returns its workdir."""
  config.data.name = "digits"
  config.data.eval_batch_size = 120
  train.run(config, workdir)
  return workdir


def test_sample_writes_images_in_unit_range(tmp_path):
  workdir = _trained_on_digits(ae.get_config("smoke"), str(tmp_path / "run"))
  out = str(tmp_path / "s.npy")
  proc = _sample(f"--workdir={workdir}", "--num=7", f"--out={out}", "--label=3")
  assert proc.returncode == 0, proc.stderr[-1500:]
  samples = np.load(out)
  assert samples.shape == (7, 8, 8, 1) and samples.dtype == np.float32
  assert samples.min() >= 0.0 and samples.max() <= 1.0
  assert np.std(samples, axis=0).mean() > 0  # distinct draws, not one image repeated

  bad = _sample(f"--workdir={workdir}", "--num=2", f"--out={out}", "--label=42")
  assert bad.returncode != 0
  errors = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
  assert len(errors) == 1 and "label 42" in errors[0] and "Traceback" not in bad.stderr


def test_vae_samples_from_the_prior(tmp_path):
  workdir = _trained_on_digits(vae.get_config("smoke"), str(tmp_path / "vae"))
  out = str(tmp_path / "v.npy")
  proc = _sample(f"--workdir={workdir}", "--num=5", f"--out={out}")
  assert proc.returncode == 0, proc.stderr[-1500:]
  samples = np.load(out)
  assert samples.shape == (5, 8, 8, 1) and 0.0 <= samples.min() and samples.max() <= 1.0
  refused = _sample(f"--workdir={workdir}", "--num=2", f"--out={out}", "--label=1")
  assert refused.returncode != 0 and "unconditional" in refused.stderr
