"""The real command lines: `python -m experiments.main` and `python -m experiments.evaluate`.

Every config's `smoke` variant is trained, evaluated and resumed through them;
user mistakes must end with a non-zero exit and a one-line `error:` message.

The `ae` pipeline, the user mistakes and the multi-device run start cold, as a
user's shell would. The other pipelines fork from a zygote that has done the
imports (tests/zygote.py): the same module as `__main__`, flags, exit status and
output, without ~5 CPU-seconds of imports per command.
"""

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import zygote
from conftest import CONFIG_FILES, REPO_ROOT, load_config, network_blocked
from conftest import ABSL_LOG as _ABSL_LOG
from conftest import non_log_lines as _non_log_lines
from experiments import features
from genlab import data, experiment, families

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

# Set when the jobs start: the session's GENLAB_DATA_DIR (not one a test monkeypatches
# meanwhile), one BLAS thread per command, since commands run next to each other
# (multi-threaded OpenBLAS under oversubscription turned evaluate's 0.3 s PCA into 2-20 s),
# and no network past loopback (conftest.network_blocked; test_commands_have_no_network).
# Every command gets this one environment, so no extra zygote is started.
_ENV: dict = {}


def _run(*args: str, timeout: float = 300, devices: int = 0) -> subprocess.CompletedProcess:
  env = dict(_ENV or os.environ)
  if devices:  # that many CPU devices, to exercise data parallelism on one host
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
  return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True,
                        text=True, timeout=timeout, env=env)


def _train(config_arg: str, workdir: str, *overrides: str, run=_run):
  return run("experiments.main", f"--config=experiments/configs/{config_arg}",
             f"--workdir={workdir}", *overrides)


def _evaluate(workdir: str, run=_run):
  return run("experiments.evaluate", f"--workdir={workdir}")


def _ok(proc: subprocess.CompletedProcess):
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr


# ------------------------------------------------------- smoke runs, per config


def _pipeline(config_arg: str, workdir: str, run=_run, samples: dict | None = None) -> dict:
  """train -> evaluate -> train again, as a user would; returns the processes.

  `samples`: {name: experiments.sample flags} to run at the end, under out["samples"].
  """
  out = {"train": _train(config_arg, workdir, run=run)}
  if out["train"].returncode == 0:
    out["evaluate"] = _evaluate(workdir, run=run)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      out["metrics_before_rerun"] = f.read()
    out["rerun"] = _train(config_arg, workdir, run=run)
    out["samples"] = {name: run("experiments.sample", f"--workdir={workdir}", *flags)
                      for name, flags in (samples or {}).items()}
  return out


# Pipelines whose commands start cold, like a user's; the rest fork from a zygote.
_COLD = {"ae"}


# Config variants with their own code paths, run like the per-file smoke configs.
_VARIANTS = {"vae_grid25": ("vae", "grid25,smoke"), "gan_grid25": ("gan", "grid25,smoke"),
             "gan_grid25_best": ("gan", "grid25_best,smoke"),
             "gan_ring8_best": ("gan", "ring8_best,smoke")}
# Image variants with their own code paths, checked like the per-file smoke configs.
_IMAGE_VARIANTS = {"wgan_gp": ("wgan", "gp,smoke")}

# The final test score the loop logs and evaluate re-computes, per step family (a
# translation game: "translation").
_PRIMARY = {"reconstruction": "test/mse", "elbo": "test/neg_elbo",
            "classification": "test/accuracy", "adversarial": "test/d_real",
            "translation": "test/l1", "cycle": "test/cycle_l1"}

# The loop's sample grids (samples/NAME_STEP.png) and the report figure that must
# exist, per step family; the rest show inputs and reconstructions.
_GRIDS = {"classification": ("input",), "adversarial": ("samples",),
          "translation": ("source", "output", "target"),
          "cycle": ("a", "a_to_b", "a_cycle", "b", "b_to_a", "b_cycle")}
_REPORT_FIGURE = {"classification": None, "adversarial": "samples.png",
                  "translation": "translations.png", "cycle": "translations.png"}


def _kind(config) -> str:
  """The step family, or the translation game an adversarial config plays."""
  game = config.gan.game if config.get("gan") is not None else ""
  return {"pix2pix": "translation", "cycle": "cycle"}.get(game, config.step_family)


def _translates(config) -> bool:
  """A translation game (Pix2Pix, CycleGAN): no prior, outputs scored against targets."""
  return _kind(config) in ("translation", "cycle")


# name -> (command args, substrings the error line must contain)
_BAD = {
    "typo_key": (["main", "ae.py:smoke", "--config.optim.learnig_rate=1"],
                 ["learnig_rate", "learning_rate"]),
    "wrong_type": (["main", "ae.py:smoke", "--config.optim.learning_rate=abc"],
                   ["learning_rate", "abc"]),
    "unknown_variant": (["main", "ae.py:bogus"], ["bogus", "smoke"]),
    "unknown_dataset": (["main", "ae.py:smoke", "--config.data.name=nope"],
                        ["nope", "mnist5k"]),
    "unprepared_tfds": (["main", "ae.py:smoke", "--config.data.name=tfds:mnist",
                         "--config.data.data_dir={empty}"], ["not prepared", "mnist"]),
    "eval_no_checkpoint": (["evaluate", "{no_ckpt}"], ["no checkpoint"]),
    "eval_not_a_workdir": (["evaluate", "{plain}"], ["not found", "workdir"]),
}


# test name without `test_` -> (CPU devices, extra flags) for an ae smoke run.
# (1 vs 2 devices is compared in tests/test_sharding.py.)
_MULTI = {
    "device_count_that_does_not_divide_32": (
        3, ["--config.data.batch_size=30", "--config.data.eval_batch_size=300"]),
}


class _Jobs:
  """Futures of this module's commands: smoke pipelines and bad-input cases."""

  def __init__(self, selected: set, tmp_path_factory):
    names = [n for n in SMOKE_CONFIGS if f"test_smoke_train_evaluate_resume[{n}]" in selected]
    cases = [c for c in _BAD if f"test_user_mistake_is_one_line_error[{c}]" in selected]
    if "test_console_is_not_flooded_with_info_logs" in selected and "eval_no_checkpoint" not in cases:
      cases.append("eval_no_checkpoint")
    _ENV.update(network_blocked({**os.environ, "OPENBLAS_NUM_THREADS": "1",
                                 "OMP_NUM_THREADS": "1"}))
    root = tmp_path_factory.mktemp("cli")
    self.dirs = {d: root / d for d in ("empty", "plain")}
    for d in self.dirs.values():
      d.mkdir()
    self.dirs["no_ckpt"] = root / "no_ckpt"
    experiment.write_or_check_config(load_config("ae", "smoke"), str(self.dirs["no_ckpt"]))
    data.dataset_info("mnist5k")  # prepare the embedded sets once, before parallel runs
    data.dataset_info("grid25")
    data.dataset_info("ring8")
    # Train the smoke feature net once, before the parallel evaluations wait on its lock.
    features.for_evaluation(load_config("ae", "smoke"))
    self._root = root
    self._pool = ThreadPoolExecutor(2)
    self.zygotes = zygote.Pool(str(REPO_ROOT))
    warm = lambda module, *args: self.zygotes.run(module, list(args), _ENV)
    # Longest first, so the short error cases fill the gaps at the end.
    runs = {n: (f"{n}.py:smoke", {}) for n in names}
    for v, (name, arg) in _VARIANTS.items():
      if f"test_toy_points_train_evaluate_sample[{v}]" in selected:
        runs[v] = (f"{name}.py:{arg}", {"points": ["--num=7", f"--out={root / v}_points.npy"]})
    runs.update({v: (f"{name}.py:{arg}", {}) for v, (name, arg) in _IMAGE_VARIANTS.items()
                 if f"test_image_variant_train_evaluate_resume[{v}]" in selected})
    for n in names:
      if load_config(n, "smoke").model.get("conditional"):
        runs[n][1].update(_conditional_samples(root / n))
      if _translates(load_config(n, "smoke")):
        runs[n][1]["translations"] = ["--num=5", f"--out={root / n}_translations.npy"]
    self.smoke = {n: (self._pool.submit(_pipeline, arg, str(root / n),
                                        _run if n in _COLD else warm, samples), str(root / n))
                  for n, (arg, samples) in runs.items()}
    self.bad = {c: self._pool.submit(self._timed, c) for c in cases}
    self.multi = {n: self._pool.submit(self._multi_device, n, d, flags)
                  for n, (d, flags) in _MULTI.items() if f"test_{n}" in selected}
    # The network check, forked from a zygote of the smoke runs and started cold.
    self.netcheck = ({"zygote": self._pool.submit(warm, "netblock_check"),
                      "cold": self._pool.submit(_run, "netblock_check", timeout=60)}
                     if "test_commands_have_no_network" in selected else {})

  def _command(self, case):
    args, _ = _BAD[case]
    fill = lambda s: s.format(**{k: str(v) for k, v in self.dirs.items()})
    if args[0] == "main":
      return ["experiments.main", f"--config=experiments/configs/{args[1]}",
              f"--workdir={self._root / case}", *map(fill, args[2:])]
    return ["experiments.evaluate", f"--workdir={fill(args[1])}"]

  def _timed(self, case):
    start = time.monotonic()
    proc = _run(*self._command(case), timeout=180)
    return proc, time.monotonic() - start

  def _multi_device(self, name, devices, flags):
    workdir = str(self._root / name)
    proc = _run("experiments.main", "--config=experiments/configs/ae.py:smoke",
                f"--workdir={workdir}", *flags, devices=devices)
    return proc, workdir

  def close(self):
    self._pool.shutdown(wait=True, cancel_futures=True)
    self.zygotes.close()


def start_background_jobs(selected: set, tmp_path_factory) -> _Jobs:
  """Called once per session by conftest.background_jobs; see there."""
  return _Jobs(selected, tmp_path_factory)


@pytest.fixture(scope="module")
def cli_runs(background_jobs) -> _Jobs:
  return background_jobs[__name__]


# The toy four-player CycleGAN game has its own end-to-end test (tests/test_cycle_game.py:
# the same entry points, with a kill and resume); `cyclegan.py:smoke` runs here.
SMOKE_CONFIGS = list(CONFIG_FILES)


@pytest.mark.parametrize("name", SMOKE_CONFIGS)
def test_smoke_train_evaluate_resume(name, cli_runs):
  future, workdir = cli_runs.smoke[name]
  _check_pipeline(load_config(name, "smoke"), future.result(), workdir)


@pytest.mark.parametrize("variant", list(_IMAGE_VARIANTS))
def test_image_variant_train_evaluate_resume(variant, cli_runs):
  future, workdir = cli_runs.smoke[variant]
  _check_pipeline(load_config(*_IMAGE_VARIANTS[variant]), future.result(), workdir)


def _check_pipeline(config, runs, workdir):
  steps = config.train.num_steps

  proc = runs["train"]
  _ok(proc)
  assert f"done: step {steps} in {workdir}" in proc.stdout

  # metrics.jsonl: one JSON object per line, a step and split/name scalars.
  records = [json.loads(line) for line in runs["metrics_before_rerun"].splitlines()]
  assert records
  for r in records:
    assert isinstance(r["step"], int) and 0 < r["step"] <= steps
    keys = set(r) - {"step"}
    assert keys and all(re.fullmatch(r"(train|test|samples|alarm)/\w+", k) for k in keys), keys
  family = config.step_family
  kind = _kind(config)
  primary = _PRIMARY[kind]
  assert max(r["step"] for r in records if primary in r) == steps
  if config.get("monitor") and config.monitor.sample_scores:
    # The in-loop sample scores at every evaluation, the last one included.
    assert max(r["step"] for r in records if "samples/dfid" in r) == steps

  # Sample grids and TensorBoard events.
  samples = os.listdir(os.path.join(workdir, "samples"))
  for grid in _GRIDS.get(kind, ("input", "reconstruction")):
    assert f"{grid}_{steps:07d}.png" in samples
  assert all(s.endswith(".png") for s in samples)
  events = [e for e in os.listdir(os.path.join(workdir, "tensorboard"))
            if e.startswith("events.out.tfevents")]
  assert events and all(os.path.getsize(os.path.join(workdir, "tensorboard", e)) > 0
                        for e in events)

  # Evaluation: eval.json, report.md and the figures it references.
  _ok(runs["evaluate"])
  assert "report:" in runs["evaluate"].stdout
  with open(os.path.join(workdir, "eval.json")) as f:
    scores = json.load(f)
  final = [r for r in records if r["step"] == steps and primary in r][-1]
  assert scores["step"] == steps
  assert scores[primary] == pytest.approx(final[primary], rel=1e-5)
  noisy = False
  if family == "elbo":
    _check_elbo_scores(scores)
  elif family == "reconstruction":
    _check_reconstruction_scores(config, scores)
    noisy = config.noise.mask_prob > 0 or config.noise.gaussian_std > 0
  elif _translates(config):
    _check_translation(scores, runs["samples"], workdir, kind)
  elif family == "adversarial":
    _check_adversarial_scores(scores, config.gan.loss)
    if config.model.get("conditional"):
      _check_conditional_sampling(scores, runs["samples"], workdir,
                                  data.dataset_info(config.data.name)["image_shape"])
  if families.get(family).sample and kind != "cycle":  # cycle: per direction, above
    _check_sample_scores(config, scores)
  if families.get(family).encode and config.eval.probe:
    _check_probe_scores(scores)
  else:
    assert not any(k.startswith("probe/") for k in scores)

  images = _report_images(workdir)
  figure = _REPORT_FIGURE.get(kind, "reconstructions.png")
  if figure:
    assert any(i.endswith(figure) for i in images)
  if noisy:
    assert any(i.endswith("denoising.png") for i in images)

  # Rerunning the same command resumes, finds nothing to do, and changes nothing.
  proc = runs["rerun"]
  _ok(proc)
  assert "nothing to train" in proc.stderr
  assert f"done: step {steps}" in proc.stdout
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert f.read() == runs["metrics_before_rerun"]


def _report_images(workdir: str) -> list[str]:
  """The figures report.md references; each must be a PNG file."""
  with open(os.path.join(workdir, "report.md")) as f:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", f.read())
  for rel in images:
    with open(os.path.join(workdir, rel), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n", rel
  return images


def _check_sample_scores(config, scores):
  n = min(config.eval.num_samples, 1000)
  assert scores["protocol/n_real"] == scores["protocol/n_fake"] == n
  assert scores["protocol/real_split"] == "test"
  judge = config.eval.get("feature_net_data") or config.data.name  # its labelled set
  assert scores["protocol/feature_net"].startswith(f"{judge}-")
  assert 0 <= scores["protocol/classifier_accuracy"] <= 1
  assert scores["samples/dfid"] >= 0
  assert 0 <= scores["samples/class_entropy"] <= np.log(10) + 1e-9
  for key in ("precision", "recall", "coverage"):
    assert 0 <= scores[f"samples/{key}"] <= 1


def _check_probe_scores(scores):
  for prefix in ("", "pixels_", "pca_"):
    for budget in ("10", "100", "all"):
      assert 0 < scores[f"probe/{prefix}acc_{budget}"] <= 1


def _check_reconstruction_scores(config, scores):
  expected = {"step", "test/mse", "test/psnr", "baseline/pca_mse", "test/mse_over_pca"}
  sparse = config.sparsity.beta > 0
  noisy = config.noise.mask_prob > 0 or config.noise.gaussian_std > 0
  if sparse:
    expected |= {"test/mean_activation", "config/rho", "config/beta"}
  else:
    assert "test/mean_activation" not in scores
  if noisy:
    expected |= {"test/psnr_noisy", "test/psnr_denoised", "test/psnr_gain"}
    assert scores["test/psnr_gain"] == pytest.approx(
        scores["test/psnr_denoised"] - scores["test/psnr_noisy"])
  assert expected <= set(scores), expected - set(scores)
  assert scores["baseline/pca_mse"] > 0



def _check_adversarial_scores(scores, loss):
  for key in ("test/d_real", "test/d_fake"):
    assert 0 <= scores[key] <= 1, key
  # The game's own D loss: a cross-entropy (≥ 0) for the classifier games; a Wasserstein
  # critic's E D(G(z)) − E D(x) has any sign.
  assert scores["test/loss"] == scores["test/d_loss"]
  if loss != "wasserstein":
    assert scores["test/loss"] >= 0
  assert scores["model/params"] == scores["model/g_params"] + scores["model/d_params"] > 0


def _check_translation(scores, samples, workdir, kind):
  if kind == "translation":
    assert 0 <= scores["test/l1"] <= 1 and scores["test/loss"] == scores["test/l1"]
    assert scores["test/psnr"] > 0 and -1 <= scores["test/ssim"] <= 1
    assert 0 <= scores["test/d_real"] <= 1 and 0 <= scores["test/d_fake"] <= 1
    assert 0 <= scores["test/class_kept"] <= 1
    players = ("g", "d")
  else:
    assert scores["test/cycle_l1"] == pytest.approx(
        (scores["test/cycle_a"] + scores["test/cycle_b"]) / 2)
    for direction, domain in (("ab", "b"), ("ba", "a")):
      assert 0 <= scores[f"test/class_kept_{direction}"] <= 1
      assert 0 <= scores[f"baseline/class_kept_untranslated_{direction}"] <= 1
      assert scores[f"samples/dfid_{direction}"] >= 0
      assert scores[f"protocol/feature_net_{direction}"].startswith(
          {"a": "mnist5k-", "b": "sklearn28-"}[domain])
    players = ("g_ab", "g_ba", "d_a", "d_b")
  assert scores["model/params"] == sum(scores[f"model/{p}_params"] for p in players) > 0
  _ok(samples["translations"])
  out = np.load(f"{workdir}_translations.npy")
  assert out.shape == (5, 28, 28, 1) and 0 <= out.min() and out.max() <= 1


def _conditional_samples(workdir) -> dict:
  """experiments.sample commands for a conditional model: a class, and one out of range."""
  return {"threes": ["--num=5", "--label=3", f"--out={workdir}_threes.npy"],
          "bad": ["--num=5", "--label=10", f"--out={workdir}_bad.npy"]}


def _check_conditional_sampling(scores, samples, workdir, image_shape):
  assert 0 <= scores["samples/class_accuracy"] <= 1
  _ok(samples["threes"])
  assert np.load(f"{workdir}_threes.npy").shape == (5, *image_shape)
  proc = samples["bad"]
  assert proc.returncode != 0 and "label 10" in proc.stderr.strip().splitlines()[-1]
  assert not os.path.exists(f"{workdir}_bad.npy")


def _check_elbo_scores(scores):
  expected = {"step", "test/neg_elbo", "test/rec", "test/kl", "test/nll_iwae", "config/iwae_k",
              "test/active_units", "config/latent_size"}
  assert expected <= set(scores), expected - set(scores)
  assert scores["test/neg_elbo"] == pytest.approx(scores["test/rec"] + scores["test/kl"], rel=1e-5)
  assert scores["test/nll_iwae"] <= scores["test/neg_elbo"]


@pytest.mark.parametrize("variant", list(_VARIANTS))
def test_toy_points_train_evaluate_sample(variant, cli_runs):
  future, workdir = cli_runs.smoke[variant]
  runs = future.result()
  for step in ("train", "evaluate", "rerun"):
    _ok(runs[step])
  with open(os.path.join(workdir, "eval.json")) as f:
    scores = json.load(f)
  assert scores["protocol/n_fake"] == load_config(*_VARIANTS[variant]).eval.num_samples
  assert 0 <= scores["samples/modes"] <= 25 and 0 <= scores["samples/hq_fraction"] <= 1
  assert scores["samples/reverse_kl"] >= 0
  assert not any(k.startswith("probe/") or k == "samples/dfid" for k in scores)
  assert any(i.endswith("samples_2d.png") for i in _report_images(workdir))
  _ok(runs["samples"]["points"])
  points = np.load(f"{workdir}_points.npy")
  assert points.shape == (7, 2) and points.dtype == np.float32


# ------------------------------------------------------------- user mistakes


@pytest.mark.parametrize("case", list(_BAD))
def test_user_mistake_is_one_line_error(case, cli_runs):
  proc, seconds = cli_runs.bad[case].result()
  empty = str(cli_runs.dirs["empty"])
  assert proc.returncode != 0
  lines = _non_log_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr[-3000:]
  line = lines[0]
  assert line.startswith("error: ")
  for part in _BAD[case][1]:
    assert part in line, (part, line)
  assert "done:" not in proc.stdout
  if case == "unprepared_tfds":
    # No network wait, no download attempt: under 10 s, or on a loaded machine no
    # slower than twice a command that fails on a dataset name without touching tfds.
    limit = 10.0
    if "unknown_dataset" in cli_runs.bad:
      limit = max(limit, 2 * cli_runs.bad["unknown_dataset"].result()[1])
    assert seconds < limit
    assert not os.listdir(empty)
    hinted = re.findall(r"--config\.([\w.]+)=", line)
    config = load_config("ae", "smoke")
    missing = [h for h in hinted if not _has_key(config, h)]
    assert hinted and not missing, line
  assert "Traceback" not in line


def _has_key(config, dotted: str) -> bool:
  node = config
  for part in dotted.split("."):
    if part not in node:
      return False
    node = node[part]
  return True


def test_console_is_not_flooded_with_info_logs(cli_runs):
  # cli.run_main sets the default verbosity to WARNING so the console shows
  # progress and results only; an error after start-up must not drown in logs.
  proc, _ = cli_runs.bad["eval_no_checkpoint"].result()
  info = [l for l in proc.stderr.splitlines() if l.startswith("I") and _ABSL_LOG.match(l)]
  assert not info, info[:3]


def test_commands_have_no_network(cli_runs):
  # The commands above run with non-loopback network blocked (tests/netblock): a smoke
  # run must never download or phone home. This proves the block is active inside a
  # command's own process, both forked from the smoke runs' zygote and started cold.
  for how, future in cli_runs.netcheck.items():
    proc = future.result()
    assert proc.returncode == 0, (how, proc.stdout, proc.stderr[-2000:])
    assert "network access blocked (only loopback is allowed)" in proc.stdout, how
    assert "loopback: ok" in proc.stdout, how


# -------------------------------------------------------- data parallelism


def test_device_count_that_does_not_divide_32(cli_runs):
  # batch_size 30 and eval_batch_size 300 both divide over 3 devices, which
  # check_batch_size accepts; the run must then work (or fail up front, clearly).
  proc, _ = cli_runs.multi["device_count_that_does_not_divide_32"].result()
  _ok(proc)
