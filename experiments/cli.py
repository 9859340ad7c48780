"""Shared entry-point plumbing: one-line errors and exit codes instead of tracebacks."""

import sys

from absl import app, flags, logging

from genlab.checkpoint import CheckpointError
from genlab.data import DataError
from genlab.experiment import ConfigMismatchError
from genlab.registry import UnknownNameError

# Errors a user can fix from the message alone; anything else keeps its traceback.
USER_ERRORS = (DataError, UnknownNameError, ConfigMismatchError, CheckpointError,
               FileNotFoundError, ValueError, KeyError, AttributeError, TypeError)


def fail(message: str, code: int = 2):
  sys.stderr.write(f"error: {message}\n")
  sys.exit(code)


def _one_line(e: BaseException) -> str:
  text = str(e).strip().strip("'\"").replace("\\n", " ").replace("\n", " ")
  return text or type(e).__name__


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose config errors (typos, bad types, bad args) are one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    fail(f"{_one_line(e)} (see --helpshort)")
  except USER_ERRORS as e:
    fail(_one_line(e))


def run_main(main) -> None:
  """app.run with user errors reported as one line and exit status 2."""
  def guarded(argv):
    try:
      return main(argv)
    except USER_ERRORS as e:
      if isinstance(e, (TypeError, AttributeError, KeyError)) and not _is_config_error(e):
        raise
      fail(_one_line(e))
  # Orbax logs every save at INFO; keep the console to progress and results
  # (pass -v 0 to see them again).
  flags.FLAGS.set_default("verbosity", logging.WARNING)
  app.run(guarded, flags_parser=parse_flags)


def _is_config_error(e: BaseException) -> bool:
  # ml_collections raises these for mistyped or mistyped-type config fields.
  return type(e).__module__.startswith("ml_collections") or "config" in str(e).lower()
