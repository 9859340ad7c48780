"""Checkpoints through one thin module over Orbax's CheckpointManager.

The whole TrainState pytree is saved (params, optimizer states, batch statistics,
EMA copies, extra state); the data position is the step itself (the input order is a
pure function of seed and step), and so is the stage (the template of a growing
network is built from the stage of the checkpoint's step), so restoring the state
resumes the run exactly.
"""

import logging
import os
import time

import jax
import orbax.checkpoint as ocp

from genlab.errors import UserError


class CheckpointError(UserError):
  """No checkpoint in a directory could be read."""


class Checkpointer:
  """Saves every `save_every` steps (plus forced saves), keeps the last `keep`."""

  def __init__(self, directory: str, save_every: int, keep: int):
    self.directory = os.path.abspath(directory)
    self.save_every = save_every
    self._mngr = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def all_steps(self) -> list[int]:
    return sorted(self._mngr.all_steps())

  def restore(self, template, max_step: int | None = None):
    """Restores the newest readable checkpoint shaped like `template` (of step at most
    `max_step`, when given).

    `template` is a state, or a function step -> state for runs whose state changes
    shape with the step (networks that grow between stages): each checkpoint is then
    read against the template of its own step.

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
        return self._mngr.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:  # orbax raises many types for truncated/garbled files
        last_error = e
        aside = os.path.join(self.directory, f"corrupt_{step}_{int(time.time())}")
        logging.warning("checkpoint %d unreadable (%s); moved to %s, trying an older one",
                        step, str(e).splitlines()[0][:200], aside)
        os.rename(os.path.join(self.directory, str(step)), aside)
        self._mngr.reload()
    raise CheckpointError(
        f"no readable checkpoint in {self.directory} (last error: "
        f"{str(last_error).splitlines()[0][:200]}); the unreadable ones were moved to "
        "corrupt_*; rerun to start from scratch or restore a copy")

  def due(self, step: int, force: bool = False) -> bool:
    """Whether `save(step, ..., force)` would write a checkpoint."""
    return (force or step % self.save_every == 0) and step not in self._mngr.all_steps()

  def save(self, step: int, state, force: bool = False) -> bool:
    """Saves asynchronously if `step` is on the interval (or `force`)."""
    if not self.due(step, force):
      return False
    return self._mngr.save(step, args=ocp.args.StandardSave(state), force=True)

  def close(self):
    """Blocks until pending saves are on disk."""
    self._mngr.wait_until_finished()
    self._mngr.close()
