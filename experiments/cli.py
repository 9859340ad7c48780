"""Shared entry-point plumbing: user errors as one line and exit status 2, bugs as tracebacks.

A `genlab.errors.UserError`, and a mistake in the flags or `--config.KEY=VALUE`
overrides (caught while parsing them), prints `error: MESSAGE` and exits with status 2;
`--debug` shows its traceback instead. Every other exception is a bug and keeps its
traceback. Every entry point also takes the multi-host flags of experiments.cluster.

A `--config` that names no config file (missing, a directory, not Python, no
`get_config`) is refused before config_flags loads it, with the configs found next to it.
"""

import os
import sys
import traceback
from typing import Any, Callable

from absl import app, flags, logging
from ml_collections import config_flags

from experiments import cluster
from genlab.errors import UserError

_DEBUG = flags.DEFINE_bool(
    "debug", False, "show the traceback of user errors too (other errors always show theirs)")

_OVERRIDE_RESOLVER = os.path.join("config_flags", "config_path.py")
_WRAPPED_CONFIG_ERROR = "Error whilst parsing config file"


def fail(message: str, code: int = 2):
  """Writes `error: MESSAGE` to stderr and exits with `code`."""
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


def _chain(e: BaseException) -> list[BaseException]:
  """`e` and the exceptions it was raised from or while handling, outermost first."""
  chain = []
  while e is not None and e not in chain:
    chain.append(e)
    e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
  return chain


def _debug_requested(argv: list[str]) -> bool:
  """--debug read from the raw command line: a parse error can come before its value is set."""
  debug = False
  for arg in argv[1:]:
    if arg == "--":
      break
    if not arg.startswith("-"):
      continue
    name, has_value, value = arg.lstrip("-").partition("=")
    if name == "debug":
      debug = not has_value or value.lower() in ("true", "t", "1")
    elif name == "nodebug":
      debug = False
  return debug


def _is_user_parse_error(e: BaseException) -> bool:
  """Whether an exception from flag parsing is the user's mistake rather than a bug.

  Args:
    e: what `flags.FLAGS(argv)` raised.

  Returns:
    True for a UserError anywhere in the chain (a config file's `get_config` rejecting
    its arg string), for absl's own flag errors (unknown flag, bad value, missing
    required flag) and for a mistyped `--config.KEY`; False for any other exception,
    e.g. a TypeError in a config file, which config_flags rewraps as a flag error.
  """
  chain = _chain(e)
  if any(isinstance(c, UserError) for c in chain):
    return True
  if any(_WRAPPED_CONFIG_ERROR in str(c) for c in chain):
    return False
  if isinstance(e, flags.Error):
    return True
  # ml_collections resolves an override's dotted key in config_path.py, and only there:
  # a KeyError/AttributeError from that module is an unknown key, not a config file bug.
  frames = traceback.extract_tb(e.__traceback__)
  return isinstance(e, (AttributeError, KeyError)) and any(
      f.filename.endswith(_OVERRIDE_RESOLVER) for f in frames)


def _unloadable_config(flag_values: flags.FlagValues) -> tuple[str, OSError] | None:
  """A config-file flag whose file could not be read, as (flag name, error), else None."""
  for name in flag_values:
    if not flag_values[name].present:
      continue
    try:
      # config_flags defers an unreadable file's IOError to the first attribute access
      # of its config (other values just lack the attribute); probing reports it before
      # any work starts.
      getattr(flag_values[name].value, "_genlab_load_probe", None)
    except OSError as e:
      return name, e
  return None


def _flag_argument(argv: list[str], name: str) -> str | None:
  """The last value given to --NAME on the raw command line (absl keeps the last)."""
  value = None
  args = iter(argv[1:])
  for arg in args:
    if arg == "--":
      break
    flag, has_value, rest = arg.partition("=")
    if flag in (f"--{name}", f"-{name}"):
      value = rest if has_value else next(args, None)
  return value


def _config_names(directory: str) -> str:
  """'; configs there: a, b, ...' for the .py files in `directory` with a get_config."""
  try:
    files = sorted(f for f in os.listdir(directory or ".") if f.endswith(".py"))
  except OSError:
    return ""
  names = []
  for f in files:
    with open(os.path.join(directory, f), encoding="utf-8", errors="replace") as text:
      if "def get_config" in text.read():
        names.append(f[:-3])
  return f"; configs there: {', '.join(names)}" if names else ""


def _config_file_problem(argument: str) -> str | None:
  """What makes FILE[:ARGS] of a config-file flag unloadable, read before loading it, as
  the rest of a one-line message; None when it looks like a config file."""
  path = argument.split(":", 1)[0]
  if not path:
    return "no config file named; use --config=experiments/configs/NAME.py[:ARGS]"
  if os.path.isdir(path):
    return f"{path!r} is a directory, not a config file{_config_names(path)}"
  if not os.path.exists(path):
    return (f"cannot load config file {path!r}: No such file or directory"
            f"{_config_names(os.path.dirname(path))}")
  if not path.endswith(".py"):
    return f"{path!r} is not a config file (a NAME.py defining get_config)"
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      defines = "get_config" in f.read()
  except OSError as e:
    return f"cannot read {path!r}: {e.strerror}"
  if not defines:
    return (f"{path!r} defines no get_config(), so it is not a config file"
            f"{_config_names(os.path.dirname(path))}")
  return None


def _check_config_files(argv: list[str], flag_values: flags.FlagValues) -> None:
  """Fails with one line for a config-file flag naming something that is not a config
  file (missing, a directory, not Python, no get_config); config_flags would report it
  as a traceback or a deferred error."""
  for name in flag_values:
    if isinstance(flag_values[name].parser, config_flags.config_flags.ConfigFileFlagParser):
      argument = _flag_argument(argv, name)
      problem = None if argument is None else _config_file_problem(argument)
      if problem:
        fail(f"--{name}: {problem}")


def parse_flags(argv: list[str], flag_values: flags.FlagValues = flags.FLAGS) -> list[str]:
  """absl flag parsing whose user mistakes (typos, bad types, bad args) are one line.

  Args:
    argv: the full command line, program name first.
    flag_values: the flags to parse into (tests pass their own).

  Returns:
    The arguments left after the flags, program name first.
  """
  debug = _debug_requested(argv)
  if not debug:  # with --debug, config_flags' own error and traceback
    _check_config_files(argv, flag_values)
  try:
    rest = flag_values(argv)
  except Exception as e:  # narrowed by _is_user_parse_error; everything else re-raises
    if debug or not _is_user_parse_error(e):
      raise
    user_error = any(isinstance(c, UserError) for c in _chain(e))
    fail(_one_line(e) + ("" if user_error else " (see --helpshort)"))
  unloadable = _unloadable_config(flag_values)
  if unloadable and not debug:  # with --debug, main's first use raises it
    name, e = unloadable
    # The last line names the file and the OS's reason; the rest is config_flags' preamble.
    fail(f"--{name}: {str(e).strip().splitlines()[-1].strip()}")
  # Orbax logs every save at INFO: keep the console to progress and results unless
  # the user asks (-v 0). absl.app would otherwise force INFO on an unset flag.
  if "verbosity" in flag_values and not flag_values["verbosity"].present:
    flag_values.verbosity = logging.WARNING
  return rest


def guard(main: Callable[[list[str]], Any], debug: bool) -> Callable[[list[str]], Any]:
  """`main` with a UserError reported as `error: MESSAGE` and exit status 2.

  Args:
    main: an entry point's main(argv).
    debug: re-raise a UserError instead, traceback and all.

  Returns:
    A main(argv) for absl's app.run; any exception other than UserError propagates
    untouched, so a bug keeps its traceback.
  """
  def guarded(argv):
    try:
      return main(argv)
    except UserError as e:
      if debug:
        raise
      code = getattr(e, "exit_code", 2)  # 143/130: stopped by a signal
      if getattr(e, "abandon_process", False):  # threads that would print at shutdown
        sys.stdout.flush()
        sys.stderr.write(f"error: {_one_line(e)}\n")
        sys.stderr.flush()
        os._exit(code)
      fail(_one_line(e), code)
  return guarded


def run_main(main: Callable[[list[str]], Any]) -> None:
  """app.run with one-line user errors, exit status 2 and a `--debug` escape hatch."""
  def joined(argv):
    cluster.initialize()  # a multi-host run joins its peers before touching a device
    return main(argv)
  # --debug is read when main runs: the flags are parsed by then, not when wrapping.
  app.run(lambda argv: guard(joined, _DEBUG.value)(argv), flags_parser=parse_flags)
