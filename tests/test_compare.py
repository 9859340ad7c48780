"""The lecture's summary: its protocol (genlab.evaluation.summary), its table, and
`experiments.compare` end to end (1 seed of the conv AE's smoke config, resumed)."""

import fcntl
import json
import math
import os
import subprocess
import sys
import threading

import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from conftest import REPO_ROOT, load_config, network_blocked
from experiments import compare, features
from genlab import experiment
from genlab.errors import UserError
from genlab.evaluation import summary, summary_table

# ------------------------------------------------------------------ the table


def _runs():
  return {"seed_0": {"samples/dfid": 80.0, "test/mse": 0.01, "health/alarms": 0},
          "seed_1": {"samples/dfid": 120.0, "test/mse": 0.03, "health/alarms": 2},
          "seed_2": {"samples/dfid": 400.0, "test/mse": 0.02, "health/alarms": 0}}


def test_aggregate_is_mean_and_sample_std_with_stability_counts():
  got = summary_table.aggregate(_runs(), fail_dfid=200.0)
  assert got["mean"]["test/mse"] == pytest.approx(0.02)
  assert got["std"]["test/mse"] == pytest.approx(0.01)  # ddof = 1
  assert got["n"]["samples/dfid"] == 3
  stab = got["stability"]
  assert (stab["seeds"], stab["alarmed"], stab["failed"], stab["crashed"]) == (3, 1, 1, 0)
  assert (stab["dfid_min"], stab["dfid_max"]) == (80.0, 400.0)


def test_a_crashed_seed_counts_as_failed_and_is_left_out_of_the_means():
  runs = {**_runs(), "seed_3": {"failed": "training did not finish"}}
  got = summary_table.aggregate(runs, fail_dfid=200.0)
  assert got["n"]["test/mse"] == 3
  assert (got["stability"]["crashed"], got["stability"]["failed"]) == (1, 2)


def test_crashed_runs_name_failed_trainings_and_anomaly_errors_only():
  models = {"conv_ae": {"runs": {**_runs(), "seed_3": {"failed": "training did not finish"}}},
            "conv_vae": {"runs": {"seed_0": {"anomaly/error": "exit 1; log: x"}}},
            "dcgan": {"runs": {"seed_0": {"samples/dfid": 900.0}}}}  # bad, but it ran
  assert compare.crashed_runs(models) == ["conv_ae/seed_3", "conv_vae/seed_0"]


def test_an_anomaly_run_left_running_is_waited_for_not_repeated(tmp_path):
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()  # compare's defaults
  sweep = compare.build_sweep("conv_ae", compare.MODELS["conv_ae"], str(tmp_path), 1, smoke=True)
  experiment.write_or_check_config(load_config("conv_ae", "smoke"), sweep.dir(0))
  got = {}
  with open(os.path.join(sweep.dir(0), ".anomaly.lock"), "w") as orphan:  # its run's lock
    fcntl.flock(orphan, fcntl.LOCK_EX)
    waiting = threading.Thread(target=lambda: got.update(compare.anomaly_auroc(sweep, 0, True)))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and not got
    os.makedirs(os.path.join(sweep.dir(0), "anomaly"))
    with open(os.path.join(sweep.dir(0), "anomaly", "anomaly.json"), "w") as f:
      json.dump({"auroc/mean": 0.9, "auroc/c0": 0.8, "auroc/c1": 1.0}, f)
  waiting.join(10)
  assert got["anomaly/auroc"] == 0.9 and got["protocol/anomaly_classes"] == 2
  assert math.isnan(got["cost/anomaly_seconds"])  # timed by the run that was waited for
  assert not os.path.exists(os.path.join(sweep.dir(0), "anomaly.log"))  # nothing ran here


def test_markdown_has_a_row_per_model_and_dashes_for_missing_numbers():
  s = summary_table.aggregate(_runs(), fail_dfid=200.0)
  one = summary_table.aggregate({"seed_0": {"samples/dfid": 50.0}}, fail_dfid=200.0)
  md = summary_table.markdown({"a": {"label": "AE-ish", "steps": 1500, "batch": 128,
                                     "summary": s},
                               "b": {"label": "GAN-ish", "steps": 20, "batch": 8,
                                     "summary": one}})
  rows = md.splitlines()
  assert len(rows) == 4
  assert rows[2].startswith("| AE-ish | 1,500 × 128 | 0.02000 ± 0.01000 |")
  assert "| GAN-ish | 20 × 8 | – | – | 50.0 |" in rows[3]
  assert "80–400; alarms 1/3; failed 1/3" in rows[2]


def test_to_reference_undoes_the_mnist5k32_border():
  x = np.zeros((2, 32, 32, 1), np.uint8)
  x[:, 2:30, 2:30] = 7
  out = summary.to_reference(x, 28, 28)
  assert out.shape == (2, 28, 28, 1) and np.all(out == 7)
  assert summary.to_reference(out, 28, 28) is out
  with pytest.raises(ValueError, match="centre-crop"):
    summary.to_reference(np.zeros((1, 31, 31, 1)), 28, 28)


def test_config_flag_adds_smoke_to_the_arg_string():
  assert compare.config_flag(compare.MODELS["conv_ae"], True).endswith("conv_ae.py:smoke")
  assert compare.config_flag(compare.MODELS["conv_vae"], True).endswith("vae.py:conv,smoke")
  assert compare.config_flag(compare.MODELS["dcgan"], False) == compare.MODELS["dcgan"].config


def test_build_sweep_checks_the_budget_override(tmp_path):
  sweep = compare.build_sweep("dcgan", compare.MODELS["dcgan"], str(tmp_path), 2, smoke=False)
  assert sweep.names == ["seed_0", "seed_1"]
  assert sweep.points[1] == {"seed": 1, "train.num_steps": compare.MODELS["dcgan"].steps}
  with pytest.raises(UserError, match="no such file"):
    compare.build_sweep("x", compare.Model("x", "experiments/configs/nope.py", 1),
                        str(tmp_path), 1, smoke=False)
  with pytest.raises(UserError, match="num_steps"):
    compare.build_sweep("x", compare.Model("x", "experiments/configs/dcgan.py", -1),
                        str(tmp_path), 1, smoke=False)


# ------------------------------------------------------------------ the protocol


def _initialised(name: str, arg: str = "smoke"):
  exp = experiment.build(load_config(name, arg))
  return exp, exp.init_state(0)


def test_discriminator_features_are_the_input_of_the_logit_layer():
  """logit(features) reproduces D's logits: the captured tensor is what the head reads."""
  exp, state = _initialised("dcgan")
  images, labels = exp.test["image"][:12], exp.test["label"][:12]
  feats = summary.discriminator_features(exp, state, images, labels, batch=5)
  d = state.params["d"]
  head = feats @ np.asarray(d["logit"]["kernel"]) + np.asarray(d["logit"]["bias"])
  variables = {"params": {"discriminator": d},
               **{c: {"discriminator": v} for c, v in state.model_state.get("d", {}).items()}}
  logits = exp.model.apply(variables, jnp.asarray(images, jnp.float32) / 255.0, None, False,
                           method="discriminate")
  np.testing.assert_allclose(head[:, 0], np.asarray(logits), rtol=1e-4, atol=1e-4)
  assert feats.shape[0] == 12


@pytest.mark.slow  # SAGAN's networks take ~20 s to compile, even at -O0
def test_conditional_discriminator_features_and_crop_for_sagan():
  exp, state = _initialised("sagan")
  images, labels = exp.test["image"][:4], exp.test["label"][:4]
  feats, what = summary.probe_features(exp, state, images, labels)
  assert what == "discriminator penultimate" and feats.shape[0] == 4
  space = summary.latent_space(exp, state)
  z = space.sample(np.random.default_rng(0), 3)
  out = summary.to_reference(space.decode(z), 28, 28)
  assert out.shape == (3, 28, 28, 1) and 0 <= out.min() and out.max() <= 1
  # One class along a path: the same latents with class 3 everywhere differ from the
  # default (classes 0, 1, 2 in turn) except where the class agrees.
  fixed = space.decode(z, label=3)
  assert not np.allclose(fixed[0], space.decode(z)[0])
  np.testing.assert_allclose(fixed[0], space.decode(z[:1], label=3)[0], atol=1e-5)


@pytest.mark.slow  # builds, compiles and scores a model: make test
def test_autoencoder_latents_come_from_the_gaussian_of_its_codes():
  exp, state = _initialised("conv_ae")
  space = summary.latent_space(exp, state)
  params = {"params": exp.params(state)}
  codes = np.asarray(exp.model.apply(params, jnp.asarray(exp.train["image"], jnp.float32)
                                     / 255.0, method="encode")).reshape(len(exp.train["image"]),
                                                                        -1)
  z = space.sample(np.random.default_rng(0), 4000)
  np.testing.assert_allclose(z.mean(0), codes.mean(0), atol=0.1 * codes.std() + 1e-3)
  assert space.decode(z[:2]).shape == (2, 28, 28, 1)


@pytest.mark.slow  # builds, compiles and scores a model: make test
def test_measure_gives_every_number_of_a_vae():
  exp, state = _initialised("vae", "conv,smoke")
  net = features.for_evaluation(exp.config)
  got = summary.measure(exp, state, net, num_samples=40, ppl_paths=20, seed=0)
  for key in ("test/mse", "test/psnr", "samples/dfid", "samples/precision", "samples/recall",
              "samples/class_entropy", "samples/sharpness", "samples/ppl", "samples/ppl_ratio",
              "probe/acc_10"):
    assert np.isfinite(got[key]), key
  # The mean of per-image PSNRs (genlab's convention), ≥ the PSNR of the mean MSE (Jensen).
  assert got["test/psnr"] > 10 * np.log10(1 / got["test/mse"])
  assert got["protocol/ppl_paths"] == 20 and got["probe/features"] == "encoder"


# ------------------------------------------------------------------ end to end

# One model: the runner, the scores, the tables, the figure and the resume are the same
# code for every model; the GANs' own columns have the in-process tests above.
_ARGS = ["--seeds=1", "--smoke", "--models=conv_ae", "--anomaly_steps=2",
         "--num_samples=60", "--ppl_paths=20"]


_E2E = "test_compare_smoke_writes_the_summary_and_resumes"


class _Job:
  """The compare command, run while the in-process tests use the other core."""

  def __init__(self, root, start: bool):
    self.root = root
    self.result = None
    self._thread = threading.Thread(target=self._run, daemon=True)
    if start:
      self._thread.start()

  def _command(self, *extra):
    env = network_blocked({**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    return subprocess.run([sys.executable, "-m", "experiments.compare", f"--root={self.root}",
                           *_ARGS, *extra], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600, env=env)

  def _run(self):
    first = self._command()
    rerun = self._command() if first.returncode == 0 else None
    self.result = (first, rerun)

  def wait(self):
    self._thread.join()
    return self.result

  def close(self):
    if self._thread.is_alive():
      self._thread.join()


def start_background_jobs(selected: set, tmp_path_factory):
  """Called once per session by conftest.background_jobs: starts the command only when
  its test is selected (not under make test-fast)."""
  return _Job(str(tmp_path_factory.mktemp("compare") / "root"), _E2E in selected)


@pytest.mark.slow
def test_compare_smoke_writes_the_summary_and_resumes(background_jobs):
  job = background_jobs[__name__]
  first, rerun = job.wait()
  assert first.returncode == 0, first.stderr[-3000:]
  with open(os.path.join(job.root, "summary.json")) as f:
    got = json.load(f)
  assert set(got["models"]) == {"conv_ae"}
  ae = got["models"]["conv_ae"]["runs"]["seed_0"]
  for key in ("test/mse", "samples/dfid", "samples/sharpness", "samples/ppl", "probe/acc_10",
              "anomaly/auroc", "cost/train_seconds", "cost/images_per_s", "cost/anomaly_seconds"):
    assert key in ae, key
  assert 0 < got["baselines"]["probe/pixels_acc_10"] < 1
  assert ae["probe/features"] == "encoder"
  assert got["models"]["conv_ae"]["summary"]["stability"]["seeds"] == 1
  md = open(os.path.join(job.root, "summary.md")).read()
  assert "| conv AE |" in md and "![](summary.png)" in md
  assert os.path.getsize(os.path.join(job.root, "summary.png")) > 0
  # The rerun trains, scores and runs the anomaly protocol for nothing again.
  assert rerun.returncode == 0, rerun.stderr[-3000:]
  assert rerun.stdout.count("finished before") == 1
  assert rerun.stdout.count("scores kept") == 1 and "scored\n" not in rerun.stdout
  with open(os.path.join(job.root, "summary.json")) as f:
    again = json.load(f)
  assert again["models"]["conv_ae"]["runs"] == got["models"]["conv_ae"]["runs"]


@pytest.mark.slow
def test_compare_refuses_an_unknown_model(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.compare", f"--root={tmp_path}/r",
                         "--models=conv_ae,gann"], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 2
  assert "gann" in proc.stderr and "dcgan" in proc.stderr
