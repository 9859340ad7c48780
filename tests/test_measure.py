"""experiments.measure (README's tables): a failing row is one line naming its command and
log, an unknown row is refused before anything runs. Commands of their own (measure's
flags share names with experiments.compare's, so it is not imported here)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # entry-point commands: make test runs them


def _measure(root, *args):
  return subprocess.run([sys.executable, "-m", "experiments.measure", f"--root={root}", *args],
                        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)


def test_a_failed_command_names_its_row_and_keeps_its_stderr(tmp_path):
  (tmp_path / "ae").write_text("")  # the row's workdir is a file: experiments.main refuses
  proc = _measure(tmp_path, "--only=ae", "--noanomaly")
  assert proc.returncode == 2
  log = tmp_path / "logs" / "ae.main.log"
  assert proc.stderr.strip().splitlines()[-1] == (
      f"error: row ae: `python -m experiments.main --config=experiments/configs/ae.py "
      f"--workdir={tmp_path}/ae` exited 2; log: {log}")
  assert "is a file" in log.read_text()


def test_an_unknown_row_is_one_line_and_exit_2(tmp_path):
  proc = _measure(tmp_path, "--only=ae,bogus")
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: --only: no row bogus; rows: ae,")
  assert not os.listdir(tmp_path)
