"""Multi-host runs: the flags that join this process to the others through jax.distributed.

Every entry point takes them (experiments.cli.run_main calls `initialize` after the
flags are parsed and before anything touches a device):

  --jax_coordinator=HOST:PORT --jax_num_processes=N --jax_process_id=I
      join an explicitly described cluster (any machine; on CPU the processes talk
      through gloo, e.g. two processes on 127.0.0.1 in tests/test_multihost.py);
  --jax_distributed
      let `jax.distributed.initialize()` read the cluster from the environment
      (SLURM, Open MPI, TPU pods, GKE), which is how docs/scale.md launches on clusters.

Without them the run is one process. Each process then reads its own shard of the data,
only process 0 writes metrics and reports, and Orbax writes checkpoints cooperatively
(genlab.sharding, genlab.train).
"""

import jax
from absl import flags

from genlab.errors import UserError

_COORDINATOR = flags.DEFINE_string(
    "jax_coordinator", None, "HOST:PORT of process 0's coordinator service (multi-host)")
_NUM_PROCESSES = flags.DEFINE_integer("jax_num_processes", None,
                                      "processes in the run (with --jax_coordinator)")
_PROCESS_ID = flags.DEFINE_integer("jax_process_id", None,
                                   "this process's index, 0..N-1 (with --jax_coordinator)")
_AUTO = flags.DEFINE_bool(
    "jax_distributed", False,
    "join a multi-host run described by the environment (SLURM, MPI, TPU pod)")


def _explicit() -> tuple[str, int, int] | None:
  """(coordinator, processes, id) from the flags, None when none is set."""
  given = {"--jax_coordinator": _COORDINATOR.value, "--jax_num_processes": _NUM_PROCESSES.value,
           "--jax_process_id": _PROCESS_ID.value}
  missing = [name for name, value in given.items() if value is None]
  if len(missing) == len(given):
    return None
  if missing:
    raise UserError(f"{', '.join(missing)} missing: a multi-host run needs --jax_coordinator, "
                    "--jax_num_processes and --jax_process_id together")
  host, _, port = _COORDINATOR.value.rpartition(":")
  if not host or not port.isdigit():
    raise UserError(f"--jax_coordinator {_COORDINATOR.value!r} is not HOST:PORT")
  n, i = _NUM_PROCESSES.value, _PROCESS_ID.value
  if n < 1 or not 0 <= i < n:
    raise UserError(f"--jax_process_id {i} is not in 0..{n - 1} (--jax_num_processes {n})")
  return _COORDINATOR.value, n, i


def initialize() -> None:
  """Calls jax.distributed.initialize when the flags ask for a multi-host run."""
  explicit = _explicit()
  if explicit is None and not _AUTO.value:
    return
  if explicit is not None and _AUTO.value:
    raise UserError("--jax_distributed reads the cluster from the environment; "
                    "do not also pass --jax_coordinator")
  # CPU processes need a collectives backend for cross-process reductions (GPUs and TPUs
  # bring their own); without it a multi-process CPU run fails at its first all-reduce.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if explicit is None:
    jax.distributed.initialize()
  else:
    coordinator, n, i = explicit
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=n, process_id=i)
