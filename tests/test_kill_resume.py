"""A run SIGKILLed mid-training and rerun with the same command resumes from its checkpoint."""

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, kill_after_first_checkpoint

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it


# The kill lands within a poll (20 ms, a few steps) of the first checkpoint at step 100.
_STEPS = 600


def _command(workdir: str) -> list[str]:
  return [sys.executable, "-m", "experiments.main", "--config=experiments/configs/ae.py",
          f"--workdir={workdir}", "--config.data.name=digits", "--config.data.eval_batch_size=120",
          f"--config.train.num_steps={_STEPS}", "--config.train.checkpoint_every=100",
          f"--config.train.eval_every={_STEPS}", f"--config.train.sample_every={_STEPS}"]


def test_sigkill_then_same_command_resumes(tmp_path):
  workdir = str(tmp_path / "run")
  killed_at = kill_after_first_checkpoint(_command(workdir), workdir, timeout=120)
  assert killed_at and killed_at[-1] < _STEPS, "the run finished before it could be killed"

  rerun = subprocess.run(_command(workdir), cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  resumed = [ln for ln in rerun.stderr.splitlines() if ln.startswith("resumed from step")]
  assert resumed and int(resumed[0].split()[3]) >= killed_at[-1]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    train_steps = [r["step"] for r in map(json.loads, f) if "train/loss" in r]
  assert train_steps[-1] == _STEPS
  assert len(train_steps) == len(set(train_steps)), "steps logged twice after the resume"
