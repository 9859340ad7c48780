"""GAN evaluation and sampling in-process: eval.json, report figures, the sampler."""

import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from experiments import features
from genlab import evaluate, experiment, families, train

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """(workdir, the loop's result) of a gan.py:smoke run."""
  workdir = str(tmp_path_factory.mktemp("gan") / "run")
  config = load_config("gan", "smoke")
  return workdir, train.run(config, workdir, feature_net=features.for_training(config))


def test_evaluate_scores_and_figures(trained):
  workdir, result = trained
  scores = evaluate.evaluate(workdir, features.for_evaluation(load_config("gan", "smoke")))
  with open(os.path.join(workdir, "eval.json")) as f:
    assert json.load(f) == scores
  # Same checkpoint, data and eval rng as the loop's last evaluation.
  for key in ("test/d_real", "test/d_fake", "test/d_loss", "test/g_loss", "test/loss"):
    assert scores[key] == pytest.approx(result[key], rel=1e-5), key
  assert 0 <= scores["test/d_real"] <= 1 and 0 <= scores["test/d_fake"] <= 1
  assert scores["model/params"] == scores["model/g_params"] + scores["model/d_params"]
  assert scores["samples/dfid"] >= 0
  assert scores["protocol/n_fake"] == load_config("gan", "smoke").eval.num_samples
  assert scores["protocol/feature_net"].startswith("mnist5k-")
  assert not any(k.startswith("probe/") for k in scores)  # no encoder, no probe
  with open(os.path.join(workdir, "report.md")) as f:
    report = f.read()
  shown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
  assert {"report/samples.png", "report/interpolation.png"} <= set(shown)
  assert "d_real" in report and "D update(s) per G update" in report


def test_sampler_images_and_label(trained):
  workdir, _ = trained
  exp, state = experiment.restore(workdir)
  sample = families.get("adversarial").sample
  x = sample(exp, state, 5, jax.random.key(0), None)
  assert x.shape == (5, 28, 28, 1) and x.min() >= 0 and x.max() <= 1
  np.testing.assert_array_equal(x, sample(exp, state, 5, jax.random.key(0), None))
  with pytest.raises(ValueError, match="not conditioned on a class") as e:
    sample(exp, state, 5, jax.random.key(0), 3)
  assert "\n" not in str(e.value) and "--label" in str(e.value)


def test_sampler_points_and_ema():
  config = load_config("gan", "grid25,smoke")
  config.gan.ema_decay = 0.5
  exp = experiment.build(config)
  state = exp.init_state()
  sample = families.get("adversarial").sample
  points = sample(exp, state, 7, jax.random.key(0), None)
  assert points.shape == (7, 2) and np.isfinite(points).all()
  # Samples come from the EMA copy of G, as in the step's eval_step and sample grids.
  zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  raw_broken = state.replace(params={**state.params, "g": zeros(state.params["g"])})
  np.testing.assert_array_equal(sample(exp, raw_broken, 7, jax.random.key(0), None), points)
  ema = state.extra["ema"]["g"]
  ema_broken = state.replace(extra={"ema": {"g": {**ema, "params": zeros(ema["params"])}}})
  assert not np.allclose(sample(exp, ema_broken, 7, jax.random.key(0), None), points)


def test_sample_command_truncates_the_prior(trained, tmp_path):
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  from conftest import REPO_ROOT  # pylint: disable=import-outside-toplevel
  workdir, _ = trained
  out = {tau: str(tmp_path / f"t{tau}.npy") for tau in ("0.01", "2.0")}
  for tau, path in out.items():
    proc = subprocess.run([sys.executable, "-m", "experiments.sample", f"--workdir={workdir}",
                           "--num=16", f"--out={path}", f"--truncation={tau}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
  tight, loose = np.load(out["0.01"]), np.load(out["2.0"])
  assert tight.shape == loose.shape == (16, 28, 28, 1)
  # Latents within ±0.01 of 0 give nearly one image; within ±2, varied ones.
  assert np.std(tight, axis=0).mean() < 0.1 * np.std(loose, axis=0).mean()
