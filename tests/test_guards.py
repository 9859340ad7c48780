"""Runs that lose nothing: validation before any write, one run per workdir, a checkpoint
on SIGTERM at the step it arrived, and no NaN state saved (genlab.guards)."""

import os
import signal
import threading

import jax
import numpy as np
import pytest

from conftest import load_config, saved_steps
from genlab import experiment, guards, train
from genlab.checkpoint import Checkpointer
from genlab.errors import UserError
from genlab.writers import read_metrics


def _ae(**train_fields):
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
    config.model.hidden = (32,)
    config.train.update(train_fields)
  return config


@pytest.mark.parametrize("key, value, message", [
    ("train.num_steps", -5, "train.num_steps must be at least 1, got -5"),
    ("train.log_every", 0, "train.log_every must be at least 1"),
    ("train.eval_every", 0, "train.eval_every must be at least 1"),
    ("train.checkpoint_every", 0, "train.checkpoint_every must be at least 1"),
    ("train.keep_checkpoints", 0, "train.keep_checkpoints must be at least 1"),
    ("optim.learning_rate", -1e-3, "optim.learning_rate must be a finite number ≥ 0"),
    ("optim.learning_rate", float("nan"), "optim.learning_rate must be a finite number"),
    ("optim.learning_rate", float("inf"), "optim.learning_rate must be a finite number"),
])
def test_bad_loop_fields_fail_before_the_workdir_is_touched(tmp_path, key, value, message):
  config = _ae()
  section, field = key.split(".")
  with config.unlocked():
    config[section][field] = value
  with pytest.raises(UserError, match=message):
    train.run(config, str(tmp_path / "w"))
  assert not (tmp_path / "w").exists()


def test_a_player_learning_rate_is_validated_too():
  config = load_config("dcgan", "smoke")
  with config.unlocked():
    config.optim.d.learning_rate = -2e-4
  with pytest.raises(UserError, match="optim.d.learning_rate must be"):
    guards.validate(config)


def test_a_busy_workdir_is_refused_with_the_holders_pid(tmp_path):
  workdir = str(tmp_path / "w")
  with guards.WorkdirLock(workdir):
    with pytest.raises(UserError, match=rf"is busy: a run \(PID {os.getpid()}\)"):
      train.run(_ae(), workdir)
  assert not os.path.exists(os.path.join(workdir, "metrics.jsonl"))
  # A lock file left by a killed run (no flock held) is taken over.
  assert train.run(_ae(), workdir)["step"] == 20


def test_sigterm_saves_the_step_it_arrived_at_and_the_resume_is_exact(tmp_path):
  config = _ae(num_steps=400, checkpoint_every=1000, log_every=1, eval_every=1000,
               sample_every=1000)
  workdir = str(tmp_path / "w")
  done = threading.Event()

  def logged() -> int:  # lines, not records: a line may be half-written
    path = os.path.join(workdir, "metrics.jsonl")
    return open(path).read().count("\n") if os.path.exists(path) else 0

  def preempt():  # SIGTERM once the run is past step 50, wherever it then is
    while not done.is_set() and logged() < 50:
      done.wait(0.01)
    if not done.is_set():
      os.kill(os.getpid(), signal.SIGTERM)

  thread = threading.Thread(target=preempt)
  thread.start()
  try:
    with pytest.raises(guards.Stopped) as stopped:
      train.run(config, workdir)
  finally:
    done.set()
    thread.join()
  assert stopped.value.exit_code == 143
  step = int(str(stopped.value).split("at step ")[1].split()[0])
  assert 0 < step < 400 and saved_steps(workdir) == [step]
  assert str(stopped.value).startswith(f"SIGTERM: saved a checkpoint at step {step}")
  # The handler is gone again: the process's own SIGTERM handling is restored.
  assert signal.getsignal(signal.SIGTERM) is not guards.StopSignals._handle
  train.run(config, workdir)
  _, resumed = experiment.restore(workdir)
  train.run(config, str(tmp_path / "straight"))
  _, straight = experiment.restore(str(tmp_path / "straight"))
  for a, b in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight), strict=True):
    np.testing.assert_array_equal(a, b)


def test_a_diverging_run_stops_at_its_logging_interval_and_saves_no_nan(tmp_path):
  config = _ae(num_steps=40, log_every=5, checkpoint_every=5)
  with config.unlocked():
    config.optim.learning_rate = 1e30
  workdir = str(tmp_path / "w")
  with pytest.raises(guards.NonFiniteError, match=r"step 5: train/\w+ is NaN or infinite"):
    train.run(config, workdir)
  assert saved_steps(workdir) == []  # the step-5 state was not saved
  assert max(r["step"] for r in read_metrics(workdir)) == 5


def test_evaluate_and_sample_refuse_a_checkpoint_with_nan_parameters(tmp_path):
  workdir = str(tmp_path / "w")
  train.run(_ae(), workdir)
  exp, state = experiment.restore(workdir)
  poisoned = state.replace(step=state.step + 1, params=jax.tree.map(
      lambda x: x * np.nan, state.params))
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), 1, 5)
  ckpt.save(int(poisoned.step), poisoned)
  ckpt.close()
  with pytest.raises(guards.NonFiniteError, match="NaN or infinite parameters"):
    experiment.restore(workdir)
  assert exp.config.train.num_steps == 20


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
  config = _ae(checkpoint_every=10, log_every=5)
  workdir = str(tmp_path / "w")
  with pytest.raises(train.SimulatedInterrupt):
    train.run(config, workdir, interrupt_at=10)
  path = os.path.join(workdir, "metrics.jsonl")
  with open(path, "a") as f:
    f.write('{"step": 15, "train/lo')  # killed in mid-write
  train.run(config, workdir)
  steps = [(r["step"], tuple(sorted(r))) for r in read_metrics(workdir)]
  assert len(steps) == len(set(steps)) and max(s for s, _ in steps) == 20
  with open(path) as f:
    lines = f.read().splitlines()
  with open(path, "w") as f:
    f.write("\n".join(lines[:1] + ["{torn"] + lines[1:]) + "\n")
  with pytest.raises(UserError, match=r"metrics.jsonl line 2 is not JSON"):
    read_metrics(workdir)


def test_a_finished_run_can_be_extended_and_the_change_is_recorded(tmp_path):
  workdir = str(tmp_path / "w")
  train.run(_ae(), workdir)
  longer = _ae(num_steps=30, log_every=5)
  assert train.run(longer, workdir)["step"] == 30
  import json  # pylint: disable=import-outside-toplevel
  with open(os.path.join(workdir, "config.json")) as f:
    saved = json.load(f)
  assert saved["train"]["num_steps"] == 30
  [change] = saved["_history"]
  assert change["changed"]["train.num_steps"] == [20, 30]
  assert experiment.load_config(workdir).train.num_steps == 30  # history is not a field
  steps = [r["step"] for r in read_metrics(workdir) if "train/loss" in r]
  assert steps[-1] == 30 and len(steps) == len(set(steps))
  # Anything else still refuses, and names only the fields that may not change.
  other = _ae(num_steps=30, log_every=5)
  with other.unlocked():
    other.optim.learning_rate = 0.5
  with pytest.raises(experiment.ConfigMismatchError, match=r"differs in: optim.learning_rate\)"):
    train.run(other, workdir)


@pytest.mark.slow
def test_a_second_command_on_a_busy_workdir_exits_2_and_the_first_finishes(tmp_path,
                                                                          monkeypatch):
  import subprocess  # pylint: disable=import-outside-toplevel
  import sys  # pylint: disable=import-outside-toplevel
  from conftest import REPO_ROOT  # pylint: disable=import-outside-toplevel
  from genlab import faults  # pylint: disable=import-outside-toplevel
  workdir = str(tmp_path / "w")
  config = _ae(num_steps=100, log_every=10, eval_every=100, sample_every=100,
               checkpoint_every=100)
  # The first run (in this process) holds the workdir at step 10 until the second command
  # has been refused, so the test does not depend on how fast either of them is.
  reached, refused, result = threading.Event(), threading.Event(), {}
  monkeypatch.setattr(faults, "point", lambda step, where: (
      reached.set(), refused.wait(120)) if (step, where) == (10, "step") else None)
  first = threading.Thread(target=lambda: result.update(train.run(config, workdir)))
  first.start()
  try:
    assert reached.wait(120), "the first run did not reach step 10"
    second = subprocess.run(
        [sys.executable, "-m", "experiments.main", "--config=experiments/configs/ae.py:smoke",
         f"--workdir={workdir}", "--config.data.name=digits",  # the config of _ae()
         "--config.data.eval_batch_size=120", "--config.model.hidden=(32,)"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120)
  finally:
    refused.set()
    first.join(timeout=120)
  assert second.returncode == 2
  assert second.stderr.strip().splitlines() == [
      f"error: {workdir!r} is busy: a run (PID {os.getpid()}) is training in it; "
      "wait for it or use another --workdir"]
  assert result["step"] == 100
  steps = [r["step"] for r in read_metrics(workdir) if "train/loss" in r]
  assert steps == list(range(10, 101, 10))
