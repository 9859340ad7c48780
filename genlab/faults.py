"""Fault injection for the reliability tests: a real SIGKILL at a chosen point of a run.

`GENLAB_FAULT=STEP:WHERE` makes the process kill itself with SIGKILL, which no handler
can catch, when the loop reaches WHERE at step STEP:
  step  right after the train step that ends at STEP, before anything of it is logged;
  save  right after STEP's checkpoint save has started: Orbax is still writing it.
`GENLAB_FAULT=STEP:nan` instead turns every float of the state NaN after step STEP, once
per process (tests/test_nonfinite.py: what stop, skip and rollback then do).
tests/fault_injection.py kills runs this way at random points and checks that resuming
gives the run that was never interrupted. The variable is read at each point, not at
import, so one pre-imported process can serve runs with different faults.
"""

import math
import os
import signal

import jax
import jax.numpy as jnp

WHERE = ("step", "save")
_poisoned: set = set()


def point(step: int, where: str) -> None:
  """SIGKILLs this process if GENLAB_FAULT names (step, where)."""
  spec = os.environ.get("GENLAB_FAULT")
  if spec and spec == f"{step}:{where}":
    os.kill(os.getpid(), signal.SIGKILL)


def poison(step: int, state):
  """`state` with NaN floats if GENLAB_FAULT is `STEP:nan` (the first time only)."""
  spec = f"{step}:nan"
  if os.environ.get("GENLAB_FAULT") != spec or spec in _poisoned:
    return state
  _poisoned.add(spec)
  return jax.tree.map(
      lambda x: x * math.nan if jnp.issubdtype(x.dtype, jnp.inexact) else x, state)
