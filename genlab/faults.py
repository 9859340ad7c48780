"""Fault injection for the reliability tests: a real SIGKILL at a chosen point of a run.

`GENLAB_FAULT=STEP:WHERE` makes the process kill itself with SIGKILL, which no handler
can catch, when the loop reaches WHERE at step STEP:
  step  right after the train step that ends at STEP, before anything of it is logged;
  save  right after STEP's checkpoint save has started: Orbax is still writing it.
tests/fault_injection.py kills runs this way at random points and checks that resuming
gives the run that was never interrupted. The variable is read at each point, not at
import, so one pre-imported process can serve runs with different faults.
"""

import os
import signal

WHERE = ("step", "save")


def point(step: int, where: str) -> None:
  """SIGKILLs this process if GENLAB_FAULT names (step, where)."""
  spec = os.environ.get("GENLAB_FAULT")
  if spec and spec == f"{step}:{where}":
    os.kill(os.getpid(), signal.SIGKILL)
