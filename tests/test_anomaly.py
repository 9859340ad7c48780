"""One-class anomaly detection: genlab.anomaly and `python -m experiments.anomaly`."""

import copy
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest

import zygote
from conftest import REPO_ROOT, load_config
from genlab import anomaly, data, experiment, train
from genlab.registry import UnknownNameError

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

_ABSL_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")
_PROGRESS = re.compile(r"^\[[#.]{20}\] \d+/\d+ ")
_PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------- pure functions


def test_class_config_keeps_the_epochs_of_the_full_split():
  config = load_config("ae")  # 3,000 steps on 4,000 images
  c = anomaly.class_config(config, 3, n_class=400, n_train=4000)
  assert tuple(c.data.train_classes) == (3,)
  t = c.train
  assert t.num_steps == 300
  assert t.eval_every == t.sample_every == 300
  assert t.checkpoint_every == 100  # 1,000 steps of the full split = 100 of one tenth
  assert t.log_every == 100 and t.layerwise_steps == 0
  assert c.optim.warmup_steps == 0
  assert c.is_locked
  # The base config is untouched.
  assert tuple(config.data.train_classes) == () and config.train.num_steps == 3000

  # Never below one step; cadences never beyond the run.
  tiny = anomaly.class_config(config, 0, n_class=1, n_train=40000)
  assert tiny.train.num_steps == 1
  assert tiny.train.log_every == tiny.train.checkpoint_every == tiny.train.eval_every == 1


def test_class_config_scales_every_step_count_by_the_same_factor():
  layerwise = load_config("stacked_ae", "layerwise")  # 1,000 per stage, 7,000 in all
  c = anomaly.class_config(layerwise, 0, n_class=400, n_train=4000)
  assert (c.train.num_steps, c.train.layerwise_steps) == (700, 100)

  conv_vae = load_config("vae", "conv")  # KL warm-up over 1,000 of 8,000 steps
  c = anomaly.class_config(conv_vae, 0, n_class=400, n_train=4000)
  assert (c.train.num_steps, c.vae.kl_warmup_steps) == (800, 100)

  # --steps: that many, with the others scaled by steps / num_steps.
  c = anomaly.class_config(layerwise, 0, n_class=400, n_train=4000, steps=70)
  assert (c.train.num_steps, c.train.layerwise_steps, c.train.log_every) == (70, 10, 70)
  c = anomaly.class_config(layerwise, 0, n_class=400, n_train=4000, steps=1)
  assert (c.train.num_steps, c.train.layerwise_steps, c.train.checkpoint_every) == (1, 1, 1)


def test_anomaly_scores_by_family():
  assert anomaly.score_key("reconstruction") == "nmse"
  assert anomaly.score_key("elbo") == "neg_elbo"
  with pytest.raises(UnknownNameError,
                     match=r"'adversarial' has no anomaly score.*elbo, reconstruction"):
    anomaly.score_key("adversarial")


def test_relative_error_score_is_mse_over_image_energy():
  exp = experiment.build(load_config("ae", "smoke"))
  state = exp.init_state()
  images = exp.test["image"]
  batch = {k: v[:8] for k, v in exp.test.items()}
  out = exp.fns.eval_step(state, batch, jax.random.key(0))
  x = images[:8].reshape(8, -1).astype(np.float32) / 255
  np.testing.assert_allclose(out["nmse"], out["mse"] / np.mean(x**2, -1), rtol=1e-5)
  assert np.all(np.asarray(out["nmse"]) > 0)


def test_check_classes():
  assert anomaly.check_classes(None, 10, "mnist5k") == list(range(10))
  assert anomaly.check_classes([3, 1, 3], 10, "mnist5k") == [1, 3]
  with pytest.raises(ValueError, match=r"12 out of range for 'mnist5k' \(classes 0\.\.9\)"):
    anomaly.check_classes([1, 12], 10, "mnist5k")
  with pytest.raises(ValueError, match="labelled dataset"):
    anomaly.check_classes(None, 0, "tfds:unlabelled")


def test_user_errors_fail_before_any_training(tmp_path):
  config = copy.deepcopy(load_config("ae", "smoke"))
  config.step_family = "classification"
  with pytest.raises(UnknownNameError, match="'classification' has no anomaly score"):
    anomaly.run(config, str(tmp_path / "family"))
  with pytest.raises(ValueError, match="out of range"):
    anomaly.run(load_config("ae", "smoke"), str(tmp_path / "classes"), classes=[10])
  assert not os.listdir(tmp_path)


# ------------------------------------------------------------- real runs


def test_two_classes_write_results_and_resume(tmp_path, capsys):
  config, root = load_config("ae", "smoke"), str(tmp_path)
  # Class 1 was interrupted after its first step (smoke: 20 steps -> 2 per class).
  partial = anomaly.class_config(config, 1, n_class=400, n_train=4000)
  with pytest.raises(train.SimulatedInterrupt):
    train.run(partial, f"{root}/class_1", interrupt_at=1)
  capsys.readouterr()

  lines = []
  out = anomaly.run(config, root, classes=[0, 1], config_arg="ae.py:smoke", log=lines.append)
  assert "resumed from step 1" in capsys.readouterr().err
  assert set(k for k in out if k.startswith("auroc/")) == {"auroc/c0", "auroc/c1", "auroc/mean"}
  assert all(0.0 <= out[f"auroc/c{c}"] <= 1.0 for c in (0, 1))
  assert out["auroc/mean"] == pytest.approx((out["auroc/c0"] + out["auroc/c1"]) / 2)
  assert out["protocol/score"] == "nmse" and out["protocol/steps_per_class"] == 2
  assert out["protocol/n_test"] == 1000
  assert lines[0] == f"class 0: AUROC {out['auroc/c0']:.4f} (400 training images, 2 steps)"
  with open(f"{root}/anomaly.json") as f:
    assert json.load(f) == {**out, "protocol/train_per_class": {"0": 400, "1": 400}}
  with open(f"{root}/anomaly.md") as f:
    md = f.read()
  assert f"| 1 | 400 | 2 | {out['auroc/c1']:.4f} |" in md and "](anomaly.png)" in md
  with open(f"{root}/anomaly.png", "rb") as f:
    assert f.read(8) == _PNG
  with open(f"{root}/anomaly_config.json") as f:
    assert json.load(f) == json.loads(experiment.config_to_json(config))
  assert experiment.load_config(f"{root}/class_0").data.train_classes == [0]

  # A rerun trains nothing and scores the same checkpoints the same way.
  before = {c: open(f"{root}/class_{c}/metrics.jsonl").read() for c in (0, 1)}
  again = anomaly.run(config, root, classes=[0, 1], config_arg="ae.py:smoke", log=lambda _: None)
  assert capsys.readouterr().err.count("nothing to train") == 2
  assert again == out
  assert {c: open(f"{root}/class_{c}/metrics.jsonl").read() for c in (0, 1)} == before

  # A different base config in the same root is refused up front.
  other = copy.deepcopy(config)
  other.optim.learning_rate = 0.5
  with pytest.raises(experiment.ConfigMismatchError, match="anomaly_config.json"):
    anomaly.run(other, root, classes=[0])


def test_vae_scores_by_neg_elbo(tmp_path):
  out = anomaly.run(load_config("vae", "smoke"), str(tmp_path), classes=[7], steps=1,
                    log=lambda _: None)
  assert out["protocol/score"] == "neg_elbo" and out["protocol/steps_per_class"] == 1
  assert 0.0 <= out["auroc/c7"] <= 1.0


def test_an_autoencoder_of_zeros_flags_the_other_digits(tmp_path):
  # Zeros hold the most ink of all digits, so a model that ignores the class (an AE
  # trained on every digit: 0.17) or a mere ink count (0.17) ranks them MOST anomalous;
  # only a model of zeros gets this right. Measured: 0.98 after 30 steps, 0.99 after 60.
  out = anomaly.run(load_config("ae"), str(tmp_path), classes=[0], steps=60, log=lambda _: None)
  assert out["auroc/c0"] > 0.9


# ------------------------------------------------- the entry point (background)

_BAD = {  # name -> (extra flags, substrings the error line must contain)
    "class_out_of_range": (["--classes=12"], ["12", "out of range", "0..9"]),
    "class_not_an_integer": (["--classes=0,x"], ["--classes", "'x'"]),
    "family_without_score": (["--config.step_family=classification"],
                             ["classification", "no anomaly score"]),
}


def _anomaly(workdir, *flags, zygotes=None):
  """The command, cold like a user's, or forked from `zygotes` (tests/zygote.py)."""
  env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
  args = ["--config=experiments/configs/ae.py:smoke", f"--workdir={workdir}", *flags]
  if zygotes:
    return zygotes.run("experiments.anomaly", args, env, timeout=300)
  return subprocess.run([sys.executable, "-m", "experiments.anomaly", *args], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=300, env=env)


class _Jobs:

  def __init__(self, selected, tmp_path_factory):
    data.dataset_info("mnist5k")  # prepared once, before commands run next to the tests
    self.root = tmp_path_factory.mktemp("anomaly_cli")
    # One worker: test_entrypoints runs its own commands alongside on a 2-core machine.
    self._pool = ThreadPoolExecutor(1)
    self.good = None
    if "test_entry_point_runs_and_writes_results" in selected:
      self.good = self._pool.submit(_anomaly, self.root / "good", "--classes=0,1")
    # The run above starts cold, like a user's; the user errors fork from a zygote.
    self._zygotes = zygote.Pool(str(REPO_ROOT))
    self.bad = {name: self._pool.submit(_anomaly, self.root / name, *flags,
                                        zygotes=self._zygotes)
                for name, (flags, _) in _BAD.items()
                if f"test_entry_point_user_error[{name}]" in selected}

  def close(self):
    self._pool.shutdown(wait=True, cancel_futures=True)
    self._zygotes.close()


def start_background_jobs(selected, tmp_path_factory):
  """Called once per session by conftest.background_jobs."""
  return _Jobs(selected, tmp_path_factory)


@pytest.fixture(scope="module")
def cli_runs(background_jobs):
  return background_jobs[__name__]


def test_entry_point_runs_and_writes_results(cli_runs):
  proc = cli_runs.good.result()
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  root = cli_runs.root / "good"
  assert re.search(r"^class 0: AUROC \d\.\d{4} \(400 training images, 2 steps\)$", proc.stdout,
                   re.M)
  assert "anomaly: auroc/mean=" in proc.stdout and f"→ {root}/anomaly.json" in proc.stdout
  with open(root / "anomaly.json") as f:
    out = json.load(f)
  assert out["protocol/config"] == "experiments/configs/ae.py:smoke"
  assert {"auroc/c0", "auroc/c1", "auroc/mean"} <= set(out)
  for name in ("anomaly.md", "anomaly.png", "anomaly_config.json", "class_1/config.json"):
    assert (root / name).exists(), name


@pytest.mark.parametrize("case", list(_BAD))
def test_entry_point_user_error(case, cli_runs):
  proc = cli_runs.bad[case].result()
  assert proc.returncode != 0
  lines = [l for l in proc.stderr.splitlines()
           if l.strip() and not _ABSL_LOG.match(l) and not _PROGRESS.match(l)]
  assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
  for part in _BAD[case][1]:
    assert part in lines[0], (part, lines[0])
  assert not (cli_runs.root / case).exists()  # nothing trained, nothing written
