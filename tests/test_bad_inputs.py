"""A hostile user's catalogue: bad input to each of the four entry points.

Every case must end as a user error: exit status 2, exactly one line on stderr (absl
log records and progress aside) that starts with `error: ` and names what was wrong, no
traceback, and nothing written: `experiments.main` leaves no config.json (its fresh
workdir is not even made), `experiments.anomaly` no anomaly_config.json,
`experiments.sample` no output file. `--debug` shows the traceback instead.

The commands fork from one zygote (tests/zygote.py, ~5 s of imports paid once) in the
background while the in-process tests run (conftest.start_background_jobs); most fail
within a fraction of a second. They run with the network blocked, as the smoke runs do.
"""

import os
import shutil
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import zygote
from conftest import REPO_ROOT, load_config, network_blocked, non_log_lines
from genlab import writers
from genlab import data, experiment
from genlab.errors import UserError

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

_MAIN, _EVAL, _SAMPLE, _ANOMALY = ("experiments.main", "experiments.evaluate",
                                   "experiments.sample", "experiments.anomaly")
_C = "--config=experiments/configs/"
_AE = _C + "ae.py:smoke"
_W = "--workdir={new}"  # this case's own path, which must stay unwritten
_OUT = "--out={new}.npy"

# name -> (module, args, words the error line must contain). Placeholders: {new} the
# case's fresh path; {file} a regular file; {empty} an empty directory; {ro} a read-only
# empty directory; {ro_run} a read-only workdir with a config.json; {corrupt}, {alien}
# workdirs whose config.json is not JSON, or JSON but not a genlab config; {no_ckpt},
# {clf} workdirs with a config.json only (an AE, a classifier); {vae} a VAE trained for 2
# steps; {dir_npy} a directory named like a .npy.
CASES = {
    # --- experiments.main: the config file and its arg string
    "main_missing_config": (_MAIN, [_C + "nope.py", _W], ["nope.py", "No such file", "ae, "]),
    "main_unknown_config_name": (_MAIN, [_C + "nope.py:smoke", _W], ["nope.py", "vae"]),
    "main_config_is_directory": (_MAIN, [_C.rstrip("/"), _W], ["is a directory", "ae"]),
    "main_config_not_python": (_MAIN, ["--config=README.md", _W], ["README.md", "not a config"]),
    "main_config_without_get_config": (_MAIN, [_C + "presets.py", _W],
                                       ["presets.py", "get_config"]),
    "main_config_empty": (_MAIN, ["--config=", _W], ["no config file"]),
    "main_conv_ae_code_0": (_MAIN, [_C + "conv_ae.py:code=0", _W], ["model.code_size", "0"]),
    "main_arg_field_not_int": (_MAIN, [_C + "ae.py:code=abc", _W], ["'code'", "integer", "abc"]),
    "main_arg_field_empty": (_MAIN, [_C + "ae.py:code=", _W], ["'code'", "integer"]),
    "main_arg_field_unknown": (_MAIN, [_C + "ae.py:smoke,bogus=1", _W], ["bogus", "code"]),
    # --- experiments.main: the workdir
    "main_workdir_is_file": (_MAIN, [_AE, "--workdir={file}"], ["{file}", "is a file"]),
    "main_workdir_under_file": (_MAIN, [_AE, "--workdir={file}/run"],
                                ["cannot be made", "is a file"]),
    "main_workdir_empty": (_MAIN, [_AE, "--workdir="], ["--workdir is empty"]),
    "main_workdir_read_only": (_MAIN, [_AE, "--workdir={ro}"], ["{ro}", "read-only"]),
    "main_workdir_in_read_only": (_MAIN, [_AE, "--workdir={ro}/run"], ["read-only"]),
    "main_workdir_missing_flag": (_MAIN, [_AE], ["--workdir"]),
    "main_extra_argument": (_MAIN, [_AE, _W, "extra"], ["unexpected arguments: extra"]),
    # --- experiments.main: --config.KEY=VALUE
    "main_batch_size_0": (_MAIN, [_AE, _W, "--config.data.batch_size=0"],
                          ["data.batch_size", "at least 1"]),
    "main_batch_larger_than_data": (_MAIN, [_AE, _W, "--config.data.batch_size=100000"],
                                    ["100000", "4000 training examples"]),
    "main_eval_batch_size_0": (_MAIN, [_AE, _W, "--config.data.eval_batch_size=0"],
                               ["data.eval_batch_size", "0"]),
    "main_seed_negative": (_MAIN, [_AE, _W, "--config.seed=-1"], ["seed", "-1"]),
    "main_seed_too_large": (_MAIN, [_AE, _W, "--config.seed=4294967296"],
                            ["seed", "4294967296"]),
    "main_key_not_a_leaf": (_MAIN, [_AE, _W, "--config.train=3"], ["config.train", "3"]),
    "main_hidden_width_0": (_MAIN, [_AE, _W, "--config.model.hidden=(0,)"], ["model.hidden"]),
    "main_vae_latent_size_0": (_MAIN, [_C + "vae.py:smoke", _W, "--config.model.latent_size=0"],
                               ["model.latent_size", "0"]),
    "main_log_every_0": (_MAIN, [_AE, _W, "--config.train.log_every=0"], ["train.log_every"]),
    "main_num_steps_negative": (_MAIN, [_AE, _W, "--config.train.num_steps=-5"],
                                ["train.num_steps", "-5"]),
    "main_num_steps_float": (_MAIN, [_AE, _W, "--config.train.num_steps=1e3"],
                             ["num_steps", "1e3"]),
    "main_learning_rate_nan": (_MAIN, [_AE, _W, "--config.optim.learning_rate=nan"],
                               ["learning_rate", "nan"]),
    "main_train_classes_absent": (_MAIN, [_AE, _W, "--config.data.train_classes=(42,)"],
                                  ["train_classes", "42"]),
    # --- experiments.evaluate
    "evaluate_empty_dir": (_EVAL, ["--workdir={empty}"], ["config.json not found"]),
    "evaluate_file": (_EVAL, ["--workdir={file}"], ["is a file"]),
    "evaluate_nonexistent": (_EVAL, ["--workdir={new}"], ["not found", "workdir"]),
    "evaluate_workdir_empty": (_EVAL, ["--workdir="], ["workdir is empty"]),
    "evaluate_no_checkpoint": (_EVAL, ["--workdir={no_ckpt}"], ["no checkpoint"]),
    "evaluate_read_only": (_EVAL, ["--workdir={ro_run}"], ["read-only"]),
    "evaluate_corrupt_config": (_EVAL, ["--workdir={corrupt}"], ["config.json", "corrupt"]),
    "evaluate_alien_config": (_EVAL, ["--workdir={alien}"], ["not a genlab config", "seed"]),
    # --- experiments.sample
    "sample_out_is_directory": (_SAMPLE, ["--workdir={no_ckpt}", "--out={dir_npy}"],
                                ["is a directory"]),
    "sample_out_dir_missing": (_SAMPLE, ["--workdir={no_ckpt}", "--out={new}/x.npy"],
                               ["does not exist"]),
    "sample_out_under_file": (_SAMPLE, ["--workdir={no_ckpt}", "--out={file}/x.npy"],
                              ["is a file"]),
    "sample_out_not_npy": (_SAMPLE, ["--workdir={no_ckpt}", "--out={new}.txt"], [".npy"]),
    "sample_out_read_only": (_SAMPLE, ["--workdir={no_ckpt}", "--out={ro}/x.npy"], ["read-only"]),
    "sample_num_0": (_SAMPLE, ["--workdir={no_ckpt}", _OUT, "--num=0"], ["--num", "positive"]),
    "sample_num_huge": (_SAMPLE, ["--workdir={vae}", _OUT, "--num=100000000000"],
                        ["--num", "free", "1,000 at a time"]),
    "sample_label_float": (_SAMPLE, ["--workdir={no_ckpt}", _OUT, "--label=3.5"],
                           ["--label", "3.5"]),
    "sample_label_unconditional": (_SAMPLE, ["--workdir={vae}", _OUT, "--label=3"],
                                   ["unconditional", "--label"]),
    "sample_truncation_without_prior": (_SAMPLE, ["--workdir={vae}", _OUT, "--truncation=1"],
                                        ["--truncation", "GAN"]),
    "sample_seed_negative": (_SAMPLE, ["--workdir={no_ckpt}", _OUT, "--seed=-1"], ["--seed", "-1"]),
    "sample_family_does_not_sample": (_SAMPLE, ["--workdir={clf}", _OUT],
                                      ["classification", "does not sample"]),
    "sample_workdir_nonexistent": (_SAMPLE, ["--workdir={new}", "--out={empty}/x.npy"],
                                   ["not found"]),
    "sample_no_checkpoint": (_SAMPLE, ["--workdir={no_ckpt}", _OUT], ["no checkpoint"]),
    # --- experiments.anomaly
    "anomaly_classes_not_int": (_ANOMALY, [_AE, _W, "--classes=a"], ["--classes", "'a'"]),
    "anomaly_classes_out_of_range": (_ANOMALY, [_AE, _W, "--classes=42"], ["42", "0..9"]),
    "anomaly_classes_empty_item": (_ANOMALY, [_AE, _W, "--classes=1,"], ["--classes", "''"]),
    "anomaly_steps_0": (_ANOMALY, [_AE, _W, "--steps=0"], ["--steps", "0"]),
    "anomaly_no_anomaly_score": (_ANOMALY, [_C + "gan.py:smoke", _W],
                                 ["adversarial", "no anomaly score"]),
    "anomaly_root_is_file": (_ANOMALY, [_AE, "--workdir={file}"], ["is a file"]),
    "anomaly_root_read_only": (_ANOMALY, [_AE, "--workdir={ro}/root"], ["read-only"]),
    "anomaly_train_classes_set": (_ANOMALY, [_AE, _W, "--config.data.train_classes=(1,)"],
                                  ["train_classes"]),
    "anomaly_num_steps_0": (_ANOMALY, [_AE, _W, "--config.train.num_steps=0"],
                            ["train.num_steps"]),
    "anomaly_batch_larger_than_class": (_ANOMALY, [_AE, _W, "--config.data.batch_size=450"],
                                        ["450", "of class 0", "trains alone"]),
    "anomaly_conv_ae_code_0": (_ANOMALY, [_C + "conv_ae.py:code=0", _W, "--steps=1"],
                               ["model.code_size"]),
}
# With --debug a user error shows its traceback (status 1, Python's own), ending in these.
DEBUG = {"debug_workdir_is_file": (_MAIN, [_AE, "--workdir={file}", "--debug"],
                                   ["UserError: --workdir", "is a file"]),
         "debug_missing_config": (_MAIN, [_C + "nope.py", _W, "--debug"],
                                  ["No such file", "nope.py"])}


class _Jobs:
  """The catalogue's commands, run one after another from one zygote."""

  def __init__(self, selected: set, tmp_path_factory):
    self.root = tmp_path_factory.mktemp("bad_inputs")
    self.dirs = {d: self.root / "fixtures" / d for d in
                 ("empty", "ro", "ro_run", "corrupt", "alien", "no_ckpt", "clf", "dir_npy")}
    for d in self.dirs.values():
      d.mkdir(parents=True)
    self.dirs["dir_npy"] = self.dirs["dir_npy"].rename(self.root / "fixtures" / "samples.npy")
    self.dirs["file"] = self.root / "fixtures" / "a_file"
    self.dirs["file"].write_text("not a directory\n")
    self.dirs["vae"] = self.root / "fixtures" / "vae"
    (self.dirs["corrupt"] / "config.json").write_text('{"seed": ')
    (self.dirs["alien"] / "config.json").write_text('{"name": "not ours"}')
    ae = load_config("ae", "smoke")
    for d in ("no_ckpt", "ro_run"):
      experiment.write_or_check_config(ae, str(self.dirs[d]))
    experiment.write_or_check_config(load_config("classifier", "smoke"), str(self.dirs["clf"]))
    for d in ("ro", "ro_run"):
      os.chmod(self.dirs[d], 0o555)
    for name in ("mnist5k", "digits"):  # prepared once here: its logs are no case's
      data.dataset_info(name)
    self.env = network_blocked({**os.environ, "OPENBLAS_NUM_THREADS": "1",
                                "OMP_NUM_THREADS": "1"})
    self.zygotes = zygote.Pool(str(REPO_ROOT))
    self._pool = ThreadPoolExecutor(1)  # one zygote: its imports are most of the cost
    wanted = {**{c: CASES[c][:2] for c in CASES
                 if f"test_bad_input_is_one_line_error[{c}]" in selected},
              **{c: DEBUG[c][:2] for c in DEBUG if f"test_debug_shows_traceback[{c}]" in selected}}
    self.trained = None
    if any("{vae}" in a for _, args in wanted.values() for a in args):
      self.trained = self._pool.submit(self._run, _MAIN, [  # first: the cases wait for it
          _C + "vae.py:smoke", f"--workdir={self.dirs['vae']}", "--config.data.name=digits",
          "--config.data.eval_batch_size=120", "--config.train.num_steps=2"])
    self.runs = {c: self._pool.submit(self._case, c, module, args)
                 for c, (module, args) in wanted.items()}

  def new_path(self, case: str) -> str:
    return str(self.root / case)

  def _run(self, module: str, args: list[str]):
    start = time.monotonic()
    proc = self.zygotes.run(module, args, self.env, timeout=120)
    return proc, time.monotonic() - start

  def fill(self, case: str, text: str) -> str:
    """`text` with its placeholders filled in for `case`."""
    return text.format(**{k: str(v) for k, v in self.dirs.items()}, new=self.new_path(case))

  def _case(self, case, module, args):
    return self._run(module, [self.fill(case, a) for a in args])

  def close(self):
    self._pool.shutdown(wait=True, cancel_futures=True)
    self.zygotes.close()
    for d in ("ro", "ro_run"):  # so that pytest can clean up
      os.chmod(self.dirs[d], 0o755)


def start_background_jobs(selected: set, tmp_path_factory) -> _Jobs:
  """Called once per session by conftest.background_jobs; see there."""
  return _Jobs(selected, tmp_path_factory)


@pytest.fixture(scope="module")
def jobs(background_jobs) -> _Jobs:
  return background_jobs[__name__]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_error(case, jobs):
  module, args, words = CASES[case]
  if any("{vae}" in a for a in args):
    trained, _ = jobs.trained.result()
    assert trained.returncode == 0, trained.stderr[-3000:]
  proc, seconds = jobs.runs[case].result()
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  lines = non_log_lines(proc.stderr)
  assert len(lines) == 1, proc.stderr[-3000:]
  line = lines[0]
  assert line.startswith("error: "), line
  for word in words:
    assert jobs.fill(case, word) in line, (word, line)
  assert proc.returncode == 2, (proc.returncode, line)
  assert "done:" not in proc.stdout and "wrote" not in proc.stdout
  assert seconds < 60, f"{seconds:.0f} s to refuse a bad input"
  # Nothing written: no config.json in the workdir named, nothing in the fixtures.
  for arg in args:
    if arg.startswith("--workdir=") and module in (_MAIN, _ANOMALY):
      workdir = jobs.fill(case, arg.split("=", 1)[1])
      assert not os.path.exists(os.path.join(workdir, "config.json")), workdir
      assert not os.path.exists(os.path.join(workdir, "anomaly_config.json")), workdir
  for fixture in ("empty", "ro", "dir_npy"):
    assert not os.listdir(jobs.dirs[fixture]), fixture


def test_fresh_paths_stay_unwritten(jobs):
  # No case made its own path ({new}: a workdir, an anomaly root, an .npy's stem).
  for case in jobs.runs:
    jobs.runs[case].result()
  made = sorted(p for p in os.listdir(jobs.root) if p != "fixtures")
  assert not made, made


@pytest.mark.parametrize("case", list(DEBUG))
def test_debug_shows_traceback(case, jobs):
  proc, _ = jobs.runs[case].result()
  assert proc.returncode == 1, proc.stderr[-3000:]  # Python's status for an uncaught error
  assert "Traceback (most recent call last)" in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  for word in DEBUG[case][2]:
    assert word in last, (word, last)


# ------------------------------------------------ experiments.sample, writing in chunks


def test_sample_writes_in_chunks(tmp_path):
  path = str(tmp_path / "s.npy")
  calls = []

  def draw(n, i):
    calls.append((n, i))
    return np.full((n, 2, 3), i, np.float64)

  assert writers.write_in_chunks(path, draw, 25, chunk=10) == (25, 2, 3)
  assert calls == [(10, 0), (10, 1), (10, 2)]  # one shape per draw; the last one cut
  out = np.load(path)
  assert out.shape == (25, 2, 3) and out.dtype == np.float32
  assert [out[k, 0, 0] for k in (0, 9, 10, 19, 20, 24)] == [0, 0, 1, 1, 2, 2]
  assert sorted(os.listdir(tmp_path)) == ["s.npy"]  # no .partial left
  assert writers.write_in_chunks(path, draw, 3, chunk=10) == (3, 2, 3)  # one draw of 3
  assert np.load(path).shape == (3, 2, 3)


def test_sample_refuses_what_does_not_fit_on_disk(tmp_path, monkeypatch):
  free = shutil.disk_usage(tmp_path).free
  monkeypatch.setattr(shutil, "disk_usage", lambda _: type("U", (), {"free": 1000})())
  path = str(tmp_path / "s.npy")
  with pytest.raises(UserError, match=r"--num 300: .*more than the 1.0 kB free"):
    writers.write_in_chunks(path, lambda n, i: np.zeros((n, 1)), 300, chunk=100)
  assert not os.listdir(tmp_path) and free > 0


@pytest.mark.parametrize("mode", [0o555, 0o755])
def test_read_only_directory_is_not_writable(tmp_path, mode):
  os.chmod(tmp_path, mode)
  try:
    assert experiment.writable(str(tmp_path)) == bool(mode & 0o200)
  finally:
    os.chmod(tmp_path, 0o755)
  assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o755
