"""An exclusive lock on a file, for work that several processes on a host may start at
once (preparing a dataset, training the cached feature net): one does it, the others wait
and then find it done."""

import contextlib
import fcntl
import os


@contextlib.contextmanager
def locked(path: str):
  """Holds an exclusive flock on `path` (created, with its directory, if missing)."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)
