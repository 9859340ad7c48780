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
  """The user-facing part of an error, on one line."""
  text = str(e).strip()
  if "Traceback (most recent call last)" in text:
    # config_flags embeds the config file's traceback: keep its final "Type: msg".
    text = [ln for ln in text.splitlines() if ln.strip()][-1].strip()
    text = text.split(": ", 1)[1] if ": " in text.split(" ", 1)[0] + " " else text
  # ml_collections wraps a repr'd KeyError in an AttributeError: unwrap the quoting.
  unquote = lambda t: t[1:-1] if len(t) > 1 and t[0] == t[-1] and t[0] in "'\"" else t
  text = unquote(text).replace("\\'", "'").replace("\\n", "\n")
  lines = [unquote(ln.strip()) for ln in text.splitlines() if ln.strip()]
  if isinstance(e, AttributeError) and len(lines) > 1 and lines[1].startswith("Did you mean"):
    return f"unknown config field '{lines[0]}': {' '.join(lines[1:])}"
  return " ".join(lines) or type(e).__name__


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing whose config errors (typos, bad types, bad args) are one line."""
  try:
    rest = flags.FLAGS(argv)
  except flags.Error as e:
    fail(f"{_one_line(e)} (see --helpshort)")
  except USER_ERRORS as e:
    fail(_one_line(e))
  # Orbax logs every save at INFO: keep the console to progress and results unless
  # the user asks (-v 0). absl.app would otherwise force INFO on an unset flag.
  if not flags.FLAGS["verbosity"].present:
    flags.FLAGS.verbosity = logging.WARNING
  return rest


def run_main(main) -> None:
  """app.run with user errors reported as one line and exit status 2."""
  def guarded(argv):
    try:
      return main(argv)
    except USER_ERRORS as e:
      if isinstance(e, (TypeError, AttributeError, KeyError)) and not _is_config_error(e):
        raise
      fail(_one_line(e))
  app.run(guarded, flags_parser=parse_flags)


def _is_config_error(e: BaseException) -> bool:
  # ml_collections raises these for mistyped or mistyped-type config fields.
  return type(e).__module__.startswith("ml_collections") or "config" in str(e).lower()
