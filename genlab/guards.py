"""What keeps a run from losing work: checks before anything is written, one run per
workdir, a checkpoint on SIGTERM/SIGINT, and no non-finite state ever saved.

- `validate(config)`: the loop's own fields (intervals, lengths, learning rates), checked
  by `experiment.build` before the workdir is touched.
- `WorkdirLock`: an flock on WORKDIR/run.lock for the run's lifetime; a second run on the
  same workdir gets one line naming the holder's PID. The kernel drops the lock of a
  killed process, so a stale lock is simply taken over.
- `StopSignals`: SIGTERM and SIGINT set a flag the loop reads after each step; it then
  saves a checkpoint at that step and raises `Stopped` (one line, exit status 143 or 130).
- `all_finite(tree)` and `NonFiniteError`: the loop checks the logged metrics at every
  logging interval and the state before every checkpoint; evaluate and sample refuse a
  checkpoint with non-finite parameters.
"""

import fcntl
import math
import os
import signal
import threading

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genlab import nonfinite
from genlab.errors import UserError

# Fields that must be ≥ 1, under config.train.
_POSITIVE = ("num_steps", "log_every", "eval_every", "sample_every", "checkpoint_every",
             "keep_checkpoints", "steps_per_call")
# The loop acts between calls, so with K steps per call these must be multiples of K.
_CADENCE = ("num_steps", "log_every", "eval_every", "sample_every", "checkpoint_every")


class Stopped(UserError):
  """The run was asked to stop (SIGTERM/SIGINT) and saved its state first."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


class NonFiniteError(UserError):
  """A loss, gradient or parameter went NaN or infinite.

  `cause` says where; `lr_scale` is the diverged run's learning-rate scale when its
  optimizers keep one (train.on_nonfinite=rollback), else None.
  """

  _ALTERNATIVES = {"stop": "skip or rollback", "skip": "rollback"}

  def __init__(self, cause: str, kept: str = "", lr_scale: float | None = None,
               policy: str = "stop"):
    hint = "lower the learning rate and rerun"
    if policy in self._ALTERNATIVES:
      hint += f", or set --config.train.on_nonfinite={self._ALTERNATIVES[policy]}"
    super().__init__(f"{cause}; stopped, {kept}; {hint}" if kept else cause)
    self.cause, self.lr_scale = cause, lr_scale


def _learning_rates(optim: ml_collections.ConfigDict, prefix: str = "optim"):
  """(path, value) of every learning rate in an optim section (one per player)."""
  if "learning_rate" in optim:
    yield prefix, optim.learning_rate
  for name, sub in optim.items():
    if isinstance(sub, ml_collections.ConfigDict):
      yield from _learning_rates(sub, f"{prefix}.{name}")


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line UserError for loop fields no run can use."""
  train = config.train
  for field in _POSITIVE:
    value = train.get(field)
    if value is not None and value < 1:
      raise UserError(f"train.{field} must be at least 1, got {value}")
  k = steps_per_call(config)
  for field in _CADENCE if k > 1 else ():
    if train[field] % k:
      raise UserError(f"train.{field}={train[field]} is not a multiple of "
                      f"train.steps_per_call={k}")
  for path, lr in _learning_rates(config.get("optim", ml_collections.ConfigDict())):
    if not math.isfinite(lr) or lr < 0:
      raise UserError(f"{path}.learning_rate must be a finite number ≥ 0, got {lr}")
  nonfinite.validate(config)


def steps_per_call(config: ml_collections.ConfigDict) -> int:
  """K train steps fused into one compiled call (a lax.scan); 1 in configs made before."""
  return int(config.train.get("steps_per_call", 1))


_finite = jax.jit(nonfinite.finite)


def all_finite(tree) -> bool:
  """Whether every float in `tree` (arrays or numbers) is finite."""
  return bool(_finite(jax.tree.map(jnp.asarray, tree)))


def first_non_finite(metrics: dict) -> str | None:
  """The name of the first host metric (sorted) that is NaN or infinite, else None."""
  for name in sorted(metrics):
    value = np.asarray(metrics[name])
    if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
      return name
  return None


class WorkdirLock:
  """Holds WORKDIR/run.lock exclusively while a run trains in WORKDIR."""

  def __init__(self, workdir: str):
    self._path = os.path.join(workdir, "run.lock")
    self._file = None

  def __enter__(self):
    os.makedirs(os.path.dirname(self._path), exist_ok=True)
    f = open(self._path, "a+")
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or "another process"
      f.close()
      raise UserError(f"{os.path.dirname(self._path)!r} is busy: a run (PID {holder}) is "
                      "training in it; wait for it or use another --workdir") from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc):
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()


class StopSignals:
  """Within the block, SIGTERM and SIGINT only set `requested` (main thread only)."""

  _CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}

  def __init__(self):
    self.requested: int | None = None
    self._previous: dict = {}

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    self.requested = signum

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in self._CODES:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)

  def stopped(self, step: int, workdir: str) -> Stopped:
    name = signal.Signals(self.requested).name
    return Stopped(f"{name}: saved a checkpoint at step {step} in {workdir}; rerun the same "
                   "command to continue", self._CODES[self.requested])

