"""`python -m MODULE ARGS` without paying for the imports on every command.

A command of ours spends ~5 CPU-seconds importing jax, flax, orbax, tfds, sklearn
and matplotlib before it does anything, and the suite runs dozens of them. A
zygote is a Python process that has done those imports once; for each command it
forks a child that becomes `python -m MODULE ARGS`: the command's working
directory, environment and argv, the module run as `__main__` (absl flag parsing,
the config file, error handling, exit status), stdout and stderr to files, and a
normal interpreter exit (atexit handlers, flushes). Only the imports are shared.

Modules read some variables at import (JAX_*, OPENBLAS_NUM_THREADS), so a zygote
serves only commands with the environment it was started with, and `run` starts
one per (thread, environment). Tests that must see a cold start (start-up logs,
import-time failures) use plain subprocesses; see tests/test_entrypoints.py.
"""

import dataclasses
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

# What every entry point imports; a name that fails to import is left to the child.
PRELOAD = ("experiments.cli", "experiments.features", "genlab.train", "genlab.evaluate",
           "genlab.anomaly", "ml_collections.config_flags")

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
# The zygote itself: `python -c` puts the working directory first on sys.path, as
# `python -m` does; this file is imported from tests/ and then dropped from the path.
_BOOT = ("import os, sys; sys.path[0] = os.getcwd(); sys.path.insert(0, {tests!r}); "
         "import zygote; del sys.path[0]; zygote.serve(sys.argv[1:])")


def serve(preload):
  """The zygote's loop: one JSON request a line on stdin; replies pid, then exit status."""
  import importlib  # pylint: disable=import-outside-toplevel
  import runpy  # pylint: disable=import-outside-toplevel
  for name in preload:
    try:
      importlib.import_module(name)
    except Exception:  # pylint: disable=broad-except
      pass  # the child imports it again and fails the way the real command would
  # The commands import these on first use (a command that never draws does not pay for
  # pyplot); taken here too, the way the commands take them: ~0.5 s a command.
  try:
    importlib.import_module("genlab.writers")._summary_writer()  # pylint: disable=protected-access
    importlib.import_module("genlab.evaluation.figures").pyplot()  # the headless backend
  except Exception:  # pylint: disable=broad-except
    pass
  # The preloaded objects live for the zygote's lifetime: frozen, a child's collections
  # and its exit skip them (measured: fork + exit of a child 0.25 s -> 0.09 s).
  gc.freeze()
  requests = os.fdopen(os.dup(0), "r")
  replies = os.fdopen(os.dup(1), "w", buffering=1)
  null = os.open(os.devnull, os.O_RDWR)
  os.dup2(null, 0)
  os.dup2(2, 1)  # stray output of the zygote must not corrupt the replies
  os.close(null)
  for line in requests:
    request = json.loads(line)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      requests.close()
      replies.close()
      break
    replies.write(f"{pid}\n")
    _, status = os.waitpid(pid, 0)
    replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
  else:
    return  # the client closed the pipe
  # The child: become `python -m MODULE ARGS`.
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, fd)
    os.close(out)
  sys.argv = [request["module"], *request["args"]]
  # SystemExit and exceptions propagate to the interpreter, as under `python -m`.
  runpy.run_module(request["module"], run_name="__main__", alter_sys=True)


class Zygote:
  """A client of one zygote process; one command at a time."""

  def __init__(self, env: dict, cwd: str):
    self.env = dict(env)
    self._proc = subprocess.Popen(
        [sys.executable, "-c", _BOOT.format(tests=_TESTS_DIR), *PRELOAD], cwd=cwd,
        env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        start_new_session=True)  # its own process group, so kill() takes the child too
    self._buffer = b""

  def run(self, module: str, args: list[str], cwd: str, timeout: float,
          extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Like subprocess.run([python, -m, module, *args], capture_output=True, text=True).

    `extra_env` is added to the command's environment only; it must hold variables
    read at run time, not at import (those were read by the zygote already).
    """
    command = [sys.executable, "-m", module, *args]
    deadline = time.monotonic() + timeout  # the first command also waits for the imports
    with tempfile.TemporaryDirectory(prefix="zygote") as tmp:
      out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
      request = dict(module=module, args=list(args), cwd=str(cwd),
                     env={**self.env, **(extra_env or {})},
                     stdout=out, stderr=err)
      self._proc.stdin.write((json.dumps(request) + "\n").encode())
      self._proc.stdin.flush()
      try:
        int(self._readline(deadline))  # the child's pid
        returncode = int(self._readline(deadline))
      except subprocess.TimeoutExpired:
        self.kill()  # the zygote and its child: a stuck command leaves nothing behind
        raise subprocess.TimeoutExpired(command, timeout, _read(out), _read(err)) from None
      return subprocess.CompletedProcess(command, returncode, _read(out), _read(err))

  def _readline(self, deadline: float) -> str:
    fd = self._proc.stdout.fileno()
    while b"\n" not in self._buffer:
      ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
      if not ready:
        raise subprocess.TimeoutExpired("zygote", 0)
      chunk = os.read(fd, 4096)
      if not chunk:
        raise RuntimeError(f"the zygote exited with status {self._proc.wait()}")
      self._buffer += chunk
    line, self._buffer = self._buffer.split(b"\n", 1)
    return line.decode()

  @property
  def alive(self) -> bool:
    return self._proc.poll() is None

  def kill(self):
    if self.alive:
      os.killpg(self._proc.pid, signal.SIGKILL)
    self._proc.wait()

  def close(self):
    self._proc.stdin.close()
    try:
      self._proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
      self.kill()


def _read(path: str) -> str:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return f.read()
  except FileNotFoundError:
    return ""


@dataclasses.dataclass
class Pool:
  """Zygotes by (thread, environment), started on first use and closed together."""
  cwd: str
  _zygotes: dict = dataclasses.field(default_factory=dict)
  _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

  def run(self, module: str, args: list[str], env: dict | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ if env is None else env)
    key = (threading.get_ident(), tuple(sorted(env.items())))
    with self._lock:
      zygote = self._zygotes.get(key)
      if zygote is None or not zygote.alive:
        zygote = self._zygotes[key] = Zygote(env, self.cwd)
    return zygote.run(module, args, self.cwd, timeout)

  def close(self):
    with self._lock:
      zygotes, self._zygotes = list(self._zygotes.values()), {}
    for zygote in zygotes:
      zygote.close()
