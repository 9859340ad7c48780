"""User errors are one line and exit status 2; bugs keep their traceback; --debug shows both.

The guard and the flag parsing are checked in-process; three real command lines
(a config variant rejected while parsing flags, an unknown dataset rejected by
genlab, and the same with --debug) check the whole path through absl's app.run.
"""

import re
import subprocess
import sys
import textwrap

import pytest
from absl import flags
from ml_collections import config_flags

from conftest import REPO_ROOT
from experiments import cli
from genlab.checkpoint import CheckpointError
from genlab.data import DataError
from genlab.errors import UserError
from genlab.experiment import ConfigMismatchError
from genlab.registry import UnknownNameError

_ABSL_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")


def _non_log_lines(stderr: str) -> list[str]:
  return [l for l in stderr.splitlines() if l.strip() and not _ABSL_LOG.match(l)]


@pytest.mark.parametrize("error", [DataError, UnknownNameError, ConfigMismatchError,
                                   CheckpointError])
def test_named_user_errors_are_user_errors(error):
  assert issubclass(error, UserError)


# ------------------------------------------------------------------ guard


def _raises(error):
  def main(argv):
    del argv
    raise error
  return main


def test_guard_prints_user_error_as_one_line_with_status_2(capsys):
  with pytest.raises(SystemExit) as e:
    cli.guard(_raises(DataError("no such dataset\n  try digits")), debug=False)(["prog"])
  assert e.value.code == 2
  assert capsys.readouterr().err == "error: no such dataset try digits\n"


def test_guard_with_debug_reraises_user_error():
  with pytest.raises(DataError, match="no such dataset"):
    cli.guard(_raises(DataError("no such dataset")), debug=True)(["prog"])


# Each of these was once reported as a user mistake, traceback dropped.
@pytest.mark.parametrize("bug", [ValueError("bug"), KeyError("bug"), TypeError("bug"),
                                 AttributeError("bug"), FileNotFoundError("bug")])
def test_guard_lets_other_exceptions_through(bug, capsys):
  with pytest.raises(type(bug)) as e:
    cli.guard(_raises(bug), debug=False)(["prog"])
  assert e.value is bug
  assert "error:" not in capsys.readouterr().err


def test_guard_returns_mains_result():
  assert cli.guard(lambda argv: len(argv), debug=False)(["prog", "x"]) == 2


# ------------------------------------------------------------ flag parsing

_CONFIG_FILE = """
import ml_collections
from genlab.errors import UserError

def get_config(arg=None):
  if arg == "bad":
    raise UserError("unknown variant 'bad'; known: ok")
  if arg == "bug":
    return 1 + "one"  # a TypeError: a bug in the config file
  return ml_collections.ConfigDict({"optim": {"learning_rate": 0.1}})
"""


def _parse(tmp_path, config_arg: str, *args: str) -> list[str]:
  """cli.parse_flags on fresh flags: --config=FILE:ARG (a file in tmp_path) and --debug."""
  path = tmp_path / "config.py"
  path.write_text(textwrap.dedent(_CONFIG_FILE))
  argv = ["prog", f"--config={tmp_path / config_arg}", *args]
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=flag_values, sys_argv=argv)
  flags.DEFINE_bool("debug", False, "", flag_values=flag_values)
  return cli.parse_flags(argv, flag_values)


def _one_line_exit(capsys, tmp_path, config_arg, *args) -> str:
  with pytest.raises(SystemExit) as e:
    _parse(tmp_path, config_arg, *args)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and err.count("\n") == 1, err
  return err


def test_parse_accepts_good_flags(tmp_path):
  assert _parse(tmp_path, "config.py", "--config.optim.learning_rate=0.5", "rest") == [
      "prog", "rest"]


@pytest.mark.parametrize("config_arg, args, parts", [
    ("config.py:bad", (), ["unknown variant 'bad'"]),
    ("config.py", ("--config.optim.learnig_rate=1",), ["learnig_rate", "learning_rate"]),
    ("config.py", ("--config.optim.learning_rate=abc",), ["learning_rate", "abc"]),
    ("config.py", ("--config.nosuch.x=1",), ["nosuch"]),
    ("missing.py", (), ["missing.py", "No such file"]),
    ("config.py:bad", ("--debug", "--nodebug"), ["unknown variant 'bad'"]),
], ids=["config_arg", "typo_key", "wrong_type", "unknown_section", "missing_file", "nodebug"])
def test_parse_time_user_error_is_one_line(capsys, tmp_path, config_arg, args, parts):
  err = _one_line_exit(capsys, tmp_path, config_arg, *args)
  for part in parts:
    assert part in err, (part, err)


def test_parse_time_user_error_with_debug_raises(tmp_path):
  with pytest.raises(Exception) as e:
    _parse(tmp_path, "config.py:bad", "--debug")
  assert not isinstance(e.value, SystemExit)
  assert "unknown variant 'bad'" in str(e.value)


def test_bug_in_config_file_keeps_traceback(tmp_path):
  # config_flags rewraps the TypeError as a flag error; it is still a bug, not a typo.
  with pytest.raises(Exception) as e:
    _parse(tmp_path, "config.py:bug")
  assert not isinstance(e.value, SystemExit)
  assert "unsupported operand" in str(e.value)
