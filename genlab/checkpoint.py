"""Checkpoints through one thin module over Orbax's CheckpointManager.

The whole TrainState pytree is saved (params, optimizer states, batch statistics,
EMA copies, extra state); the data position is the step itself (the input order is a
pure function of seed and step), and so is the stage (the template of a growing
network is built from the stage of the checkpoint's step), so restoring the state
resumes the run exactly.

Each checkpoint also has a checksum file, `checksums/STEP.json`: the CRC-32 of every
array's bytes, taken from the state as it was saved. Orbax restores a checkpoint whose
data files were altered in place (same size, flipped bytes) without complaint when the
damage lands inside an array; the checksums catch it, and the checkpoint is then treated
like an unreadable one: moved aside, one warning line, and the next older one is tried.
"""

import contextlib
import errno
import json
import logging
import os
import shutil
import sys
import time
import zlib

import jax
import numpy as np
import orbax.checkpoint as ocp

from genlab.errors import UserError


class CheckpointError(UserError):
  """No checkpoint in a directory could be read."""


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (a full disk, a vanished directory).

  Orbax's writer threads are still unwinding when this is raised and print pages of
  tracebacks if the interpreter then shuts down normally, so `abandon_process` tells
  the entry point to exit at once after its one line (genlab writes nothing else after).
  """
  abandon_process = True


class ChecksumMismatch(Exception):
  """A restored checkpoint's arrays differ from the checksums taken when it was saved."""


def checksums(state) -> dict[str, str]:
  """{tree path: CRC-32 of the array's bytes} of every leaf of a (host or device) state."""
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]
  return {jax.tree_util.keystr(path): f"{zlib.crc32(np.ascontiguousarray(leaf).tobytes()):08x}"
          for path, leaf in leaves}


def _drop_closed_loop_callbacks(hook):
  """A sys.unraisablehook that drops "Event loop is closed" from callbacks of a failed
  Orbax read, which arrive after its event loop ended; it prints everything else."""
  def unraisable(info):
    if isinstance(info.exc_value, RuntimeError) and "Event loop is closed" in str(
        info.exc_value):
      return
    hook(info)
  unraisable.drops_closed_loop_callbacks = True
  return unraisable


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax and its asyncio tasks log every failed read at length (a deleted manifest gave
  50 tracebacks); a fallback says what happened in one line of its own instead."""
  if not getattr(sys.unraisablehook, "drops_closed_loop_callbacks", False):
    sys.unraisablehook = _drop_closed_loop_callbacks(sys.unraisablehook)
  loggers = [logging.getLogger(name) for name in ("absl", "asyncio", "orbax", "")]
  levels = [lg.level for lg in loggers]
  for lg in loggers:
    lg.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    for lg, level in zip(loggers, levels):
      lg.setLevel(level)


class Checkpointer:
  """Saves every `save_every` steps (plus forced saves), keeps the last `keep`."""

  def __init__(self, directory: str, save_every: int, keep: int):
    self.directory = os.path.abspath(directory)
    self.save_every = save_every
    self._sums = os.path.join(self.directory, "checksums")
    self._mngr = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def all_steps(self) -> list[int]:
    return sorted(self._mngr.all_steps())

  def restore(self, template, max_step: int | None = None):
    """Restores the newest readable checkpoint shaped like `template` (of step at most
    `max_step`, when given).

    `template` is a state or its abstract form (`jax.ShapeDtypeStruct` leaves with
    shardings, e.g. `Experiment.abstract_state`), or a function step -> either, for runs
    whose state changes shape with the step (networks that grow between stages): each
    checkpoint is then read against the template of its own step.

    A checkpoint that fails to read is moved aside to `corrupt_STEP_TIME` (kept, not
    deleted) and the next older one is tried.

    Returns:
      The restored state, or None when the directory holds no checkpoint.
    Raises:
      CheckpointError: checkpoints exist but none could be read.
    """
    steps = [s for s in self.all_steps() if max_step is None or s <= max_step]
    if not steps:
      return None
    last_error = None
    for step in reversed(steps):
      shaped = template(step) if callable(template) else template
      abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, shaped)
      try:
        with _quiet_orbax():
          state = self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))
        self._verify(step, state)
        return state
      except Exception as e:  # orbax raises many types for truncated/garbled files
        last_error = e
        aside = os.path.join(self.directory, f"corrupt_{step}_{int(time.time())}")
        what = "does not match its checksums" if isinstance(e, ChecksumMismatch) else "unreadable"
        logging.warning("checkpoint %d %s (%s); moved to %s, trying an older one",
                        step, what, (str(e).splitlines() or [type(e).__name__])[0][:200], aside)
        os.rename(os.path.join(self.directory, str(step)), aside)
        self._mngr.reload()
    raise CheckpointError(
        f"no readable checkpoint in {self.directory} (last error: "
        f"{str(last_error).splitlines()[0][:200]}); the unreadable ones were moved to "
        "corrupt_*; rerun to start from scratch or restore a copy")

  def _verify(self, step: int, state) -> None:
    """Raises ChecksumMismatch unless `state` has the checksums saved with `step`.

    A checkpoint without a checksum file (written before they existed) is accepted.
    """
    try:
      with open(os.path.join(self._sums, f"{step}.json")) as f:
        saved = json.load(f)
    except FileNotFoundError:
      return
    except (OSError, ValueError) as e:
      raise ChecksumMismatch(f"its checksum file is unreadable: {e}") from e
    got = checksums(state)
    bad = sorted(k for k in saved.keys() | got.keys() if saved.get(k) != got.get(k))
    if bad:
      raise ChecksumMismatch(f"{len(bad)} of {len(saved)} arrays differ, e.g. {bad[0]}")

  def _write_checksums(self, step: int, state) -> None:
    """checksums/STEP.json, written whole (rename) before the checkpoint can commit;
    the files of steps older than every kept checkpoint are removed."""
    if jax.process_index() != 0:
      return
    os.makedirs(self._sums, exist_ok=True)
    path = os.path.join(self._sums, f"{step}.json")
    with open(path + ".tmp", "w") as f:
      json.dump(checksums(state), f)
    os.replace(path + ".tmp", path)
    kept = self.all_steps()
    for name in os.listdir(self._sums):
      stem = name.split(".")[0]
      if stem.isdigit() and kept and int(stem) < kept[0]:
        os.remove(os.path.join(self._sums, name))

  def due(self, step: int, force: bool = False) -> bool:
    """Whether `save(step, ..., force)` would write a checkpoint."""
    return (force or step % self.save_every == 0) and step not in self._mngr.all_steps()

  def save(self, step: int, state, force: bool = False) -> bool:
    """Saves asynchronously if `step` is on the interval (or `force`)."""
    if not self.due(step, force):
      return False
    with self._writing(step):
      self._check_space(step, state)
      self._write_checksums(step, state)
      return self._mngr.save(step, args=ocp.args.StandardSave(state), force=True)

  def _check_space(self, step: int, state) -> None:
    """Refuses a save that cannot fit before Orbax starts it: a write that fails in
    Orbax's threads leaves tracebacks on stderr that no caller can take back."""
    need = sum(x.nbytes for x in jax.tree.leaves(state)) + (1 << 20)  # + metadata
    free = shutil.disk_usage(self.directory).free
    if free < need:
      raise OSError(errno.ENOSPC, f"No space left: {need:,} bytes needed, {free:,} free")

  def close(self):
    """Blocks until pending saves are on disk."""
    with self._writing(None):
      self._mngr.wait_until_finished()
      self._mngr.close()

  @contextlib.contextmanager
  def _writing(self, step: int | None):
    """An asynchronous save fails in Orbax's threads and surfaces at the next save or
    at close: one CheckpointWriteError then, with Orbax's own error logs silenced."""
    logging.getLogger("absl").addFilter(_orbax_errors)
    try:
      yield
    except (OSError, ValueError, RuntimeError) as e:
      text = str(e)
      reason = ("no space left on device" if "No space left" in text or "os_error_code='28'"
                in text else (text.splitlines() or [type(e).__name__])[0][:200])
      kept = self.all_steps()
      raise CheckpointWriteError(
          f"could not write a checkpoint{'' if step is None else f' of step {step}'} to "
          f"{self.directory}: {reason}; fix that and rerun the same command, which resumes "
          f"from {f'step {kept[-1]}' if kept else 'step 0'}") from e


def _orbax_errors(record: logging.LogRecord) -> bool:
  """A log filter: drop Orbax's error records (a failed write logs each array's failure
  from its threads; the save's caller reports it once as CheckpointWriteError)."""
  return not (record.levelno >= logging.ERROR and "orbax" in record.pathname)
