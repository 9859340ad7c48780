"""Shared fixtures and helpers for the genlab test suite.

* Every test session prepares datasets in its own temporary GENLAB_DATA_DIR, so
  no test reads or writes the user's cache (subprocesses inherit the variable).
* `load_config(name, arg)` loads `experiments/configs/<name>.py` the way the
  entry point does (`get_config(arg)`), and `CONFIG_FILES` lists every config.
* A persistent JAX compilation cache, fresh for each session and shared by the
  in-process tests and the subprocesses they start: the same tiny networks compile in
  many tests and in every entry-point process (measured on a smoke `experiments.main`:
  56 s cold, 36 s with the cache warm). It is set before JAX is imported, so the
  first compile already uses it; a fresh clone never depends on an earlier run.
* XLA:CPU compiles at -O0 (see below). The session's cache and data directories are
  shared by pytest-xdist workers (make test-fast).
* Entry-point commands of tests/test_entrypoints.py and tests/test_anomaly.py mostly fork
  from a pre-imported zygote (tests/zygote.py); docs/testing.md has the measurements.
* `slow` marks end-to-end tests (entry-point subprocesses, real training runs);
  `make test` runs everything, `make test-fast` skips them.
* Entry-point commands run with `network_blocked(env)`: no network past loopback
  (tests/netblock/sitecustomize.py); `non_log_lines(stderr)` is what a user reads
  of a command's stderr once absl's log records and progress bars are set aside.
"""

import atexit
import importlib
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import time


def _session_dir(variable: str) -> str:
  """A temporary directory for this test session, named by `variable` in the environment,
  so that pytest-xdist workers (make test-fast) share their controller's directory."""
  path = os.environ.get(variable)
  if path is None:
    path = os.environ[variable] = tempfile.mkdtemp(prefix=f"{variable.lower()}_")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
  return path


_JAX_CACHE = _session_dir("GENLAB_TEST_JAX_CACHE")
os.environ.update(JAX_COMPILATION_CACHE_DIR=_JAX_CACHE,
                  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")

# Most of the suite's time is XLA:CPU compiling tiny models, and most of that is LLVM
# optimising code that then runs for a few steps. Measured on a DCGAN smoke run: -O0
# codegen took the init compile from 16.7 s to 1.8 s and the train step's from 15 s to
# 7 s, while a step ran 1.5x slower. The tests check behaviour, not codegen, and real
# runs keep XLA's default. Like the cache, set before JAX is imported and inherited by
# subprocesses; a user's own optimisation level wins.
_XLA_OPT = "--xla_backend_optimization_level"
if _XLA_OPT not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_XLA_OPT}=0".strip()

import pytest  # pylint: disable=wrong-import-position

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "experiments" / "configs"
_NOT_CONFIGS = {"__init__.py", "presets.py"}

# Every experiment config file, by module name (e.g. "ae", "sparse_ae").
CONFIG_FILES = sorted(p.stem for p in CONFIG_DIR.glob("*.py") if p.name not in _NOT_CONFIGS)


NETBLOCK_DIR = REPO_ROOT / "tests" / "netblock"
ABSL_LOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d")  # absl-formatted log records
PROGRESS = re.compile(r"^\[[#.]{20}\] \d+/\d+ ")  # genlab.writers.Progress lines


def non_log_lines(stderr: str) -> list[str]:
  """The lines of a command's stderr that are neither absl log records nor progress."""
  return [l for l in stderr.splitlines()
          if l.strip() and not ABSL_LOG.match(l) and not PROGRESS.match(l)]


def network_blocked(env: dict) -> dict:
  """`env` with tests/netblock first on PYTHONPATH: a Python process started with it (a
  zygote too, and so every command it forks) cannot connect past loopback or resolve
  names; tests/netblock/netblock_check.py proves it from inside such a process."""
  rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(NETBLOCK_DIR)]
  return {**env, "PYTHONPATH": os.pathsep.join([str(NETBLOCK_DIR), *rest])}


def config_module(name: str):
  """The module experiments.configs.<name>."""
  return importlib.import_module(f"experiments.configs.{name}")


def load_config(name: str, arg: str | None = None):
  """`experiments.configs.<name>.get_config(arg)`: a locked ConfigDict."""
  return config_module(name).get_config(arg)


def saved_steps(workdir: str) -> list[int]:
  """Steps of the fully written checkpoints in a workdir."""
  ckpt = os.path.join(workdir, "checkpoints")
  if not os.path.isdir(ckpt):
    return []
  return sorted(int(d) for d in os.listdir(ckpt)
                if d.isdigit() and os.path.exists(os.path.join(ckpt, d, "commit_success.txt")))


def kill_after_first_checkpoint(command: list[str], workdir: str, timeout: float = 180) -> list[int]:
  """Runs `command`, SIGKILLs it once a checkpoint is on disk; returns the saved steps."""
  proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  while not saved_steps(workdir) and time.time() < deadline and proc.poll() is None:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  return saved_steps(workdir)


@pytest.fixture(scope="session", autouse=True)
def genlab_data_dir():
  """A session-wide, initially empty GENLAB_DATA_DIR (embedded sets are prepared there,
  once: xdist workers share it, and genlab.data's preparation lock makes them wait)."""
  path = _session_dir("GENLAB_TEST_DATA_DIR")
  saved = {k: os.environ.get(k) for k in ("GENLAB_DATA_DIR", "TFDS_DATA_DIR")}
  os.environ["GENLAB_DATA_DIR"] = path
  os.environ.pop("TFDS_DATA_DIR", None)  # never touch a user's tfds store either
  yield path
  for key, value in saved.items():
    if value is None:
      os.environ.pop(key, None)
    else:
      os.environ[key] = value


# ------------------------------------------------------------ background commands
#
# Subprocess tests (tests/test_entrypoints.py) spend most of their time in
# interpreter start-up and XLA compiles, one core each. A test module can define
# `start_background_jobs(selected_test_names, tmp_path_factory) -> handle` (the
# handle has `.close()`); it is called once, when the session's first test starts,
# so those commands run while the in-process tests keep the other core busy.
# Their tests then run last and only wait for and check the results.


def pytest_collection_modifyitems(session, config, items):
  items.sort(key=lambda item: hasattr(getattr(item, "module", None), "start_background_jobs"))


@pytest.fixture(scope="session", autouse=True)
def background_jobs(request, genlab_data_dir, tmp_path_factory):
  """{module name: handle} for every selected module with background commands."""
  selected: dict = {}
  for item in request.session.items:
    module = getattr(item, "module", None)
    if hasattr(module, "start_background_jobs"):
      selected.setdefault(module, set()).add(item.name)
  handles = {m.__name__: m.start_background_jobs(names, tmp_path_factory)
             for m, names in selected.items()}
  yield handles
  for handle in handles.values():
    handle.close()
