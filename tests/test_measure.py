"""experiments.measure (README's tables): a failing row is one line naming its command and
log, an unknown row is refused before anything runs."""

import os
import subprocess
import sys

import pytest
from absl import flags

from conftest import REPO_ROOT
from experiments import measure
from genlab.errors import UserError


@pytest.fixture
def root(tmp_path):
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["measure", f"--root={tmp_path}"])
  yield tmp_path
  flags.FLAGS.unparse_flags()


def test_a_failed_command_names_itself_and_keeps_its_stderr(root):
  missing = str(root / "missing.json")
  # A stand-in command that fails fast (the real ones take seconds to import).
  with pytest.raises(UserError, match=r"row dcgan: `python -m json\.tool .*missing\.json` "
                     r"exited [1-9]\d*; log: .*dcgan\.tool\.log"):
    measure._python("dcgan", "json.tool", missing)  # pylint: disable=protected-access
  with open(os.path.join(root, "logs", "dcgan.tool.log")) as f:
    assert "missing.json" in f.read()


@pytest.mark.slow  # a command of its own
def test_an_unknown_row_is_one_line_and_exit_2(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "experiments.measure", f"--root={tmp_path}",
                         "--only=ae,bogus"], cwd=REPO_ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines()[-1].startswith("error: --only: no row bogus; rows: ae,")
  assert not os.listdir(tmp_path)
