"""Data parallelism with jax.sharding: a 1-D mesh with a `data` axis.

The batch is split over `data`; the train state is replicated. The same code
serves one CPU, one GPU, a multi-GPU host and (after `jax.distributed.initialize`)
several hosts, where each process contributes its slice of the global batch.

With several processes, each one reads only its own rows (e.g.
`genlab.data.load_split(..., shard=(jax.process_index(), jax.process_count()))`),
hands them to `put_local_batch`, fetches per-example outputs with `gather`, and
only the `is_writer()` process writes files.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from genlab.errors import UserError


def make_mesh() -> Mesh:
  """A mesh over every device of every process, with one axis named `data`."""
  # Auto axes: XLA propagates the batch sharding through reshapes; explicit
  # (sharding-in-types) axes would demand an out_sharding on every reshape.
  return jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, lead: int = 0) -> NamedSharding:
  """Split over `data` along axis `lead` (after `lead` unsplit axes: steps, members)."""
  return NamedSharding(mesh, P(*[None] * lead, "data"))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "data.batch_size") -> None:
  """Raises a one-line UserError unless the batch divides over the devices."""
  n = mesh.devices.size
  if batch_size <= 0 or batch_size % n:
    raise UserError(f"{name} {batch_size} does not divide over {n} devices; "
                     f"use a positive multiple of {n}")


def round_up(n: int, mesh: Mesh) -> int:
  """The smallest multiple of the device count that is ≥ n."""
  d = mesh.devices.size
  return -(-n // d) * d


def _process_count(mesh: Mesh) -> int:
  """How many processes own devices of the mesh."""
  return len({d.process_index for d in mesh.devices.flat})


def local_batch_size(global_batch: int, mesh: Mesh,
                     name: str = "data.batch_size") -> int:
  """The rows of a global batch that each process feeds: global / processes.

  Args:
    global_batch: rows of the batch summed over all processes.
    mesh: the mesh the batch is sharded over.
    name: how the user set the batch size, for the error message.

  Returns:
    global_batch // process count; raises a one-line UserError unless that
    divides exactly.
  """
  n = _process_count(mesh)
  if global_batch <= 0 or global_batch % n:
    raise UserError(f"{name} {global_batch} does not divide over {n} processes; "
                    f"use a positive multiple of {n}")
  return global_batch // n


def put_local_batch(local, mesh: Mesh, lead: int = 0):
  """Assembles each process's own rows into global arrays sharded over `data`.

  Process p's rows become rows [p * L, (p + 1) * L) of the global batch, where
  L is the local batch size (`local_batch_size`) that every process must pass
  (blocks follow the mesh's device order, which `make_mesh` keeps by process).
  With one process this is `jax.device_put(local, batch_sharding(mesh))`.

  Args:
    local: a pytree (e.g. {'image': ..., 'label': ...}) of host arrays [L, ...].
    mesh: the mesh from `make_mesh`.

  Returns:
    The same pytree of global jax.Arrays [L * process count, ...] (the rows on axis
    `lead` when there are `lead` leading axes, e.g. the steps of one call).
  """
  sharding = batch_sharding(mesh, lead)
  if jax.process_count() == 1:
    return jax.device_put(local, sharding)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
      local)


def gather(tree):
  """Fetches global arrays to every process as numpy, in global row order.

  For per-example outputs of a sharded step (e.g. scores or samples sharded
  over `data`): every process gets the full array, rows of process 0 first.
  Replicated arrays (e.g. a mean) come back as they are. A host value that is
  not a global array (numpy, or an array on local devices only) is taken as
  this process's rows and concatenated with the other processes' rows.

  Args:
    tree: a pytree of jax.Arrays (or numpy arrays).

  Returns:
    The same pytree of numpy arrays.
  """
  if jax.process_count() == 1:
    return jax.device_get(tree)
  # tiled=True: global arrays are resharded to replicated and returned whole;
  # host values are concatenated along axis 0 instead of stacked.
  return multihost_utils.process_allgather(tree, tiled=True)


def is_writer() -> bool:
  """Whether this process writes metrics, images and reports: process 0 only."""
  return jax.process_index() == 0
