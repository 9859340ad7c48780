"""Data parallelism with jax.sharding: a 1-D mesh with a `data` axis.

The batch is split over `data`; the train state is replicated. The same code
serves one CPU, one GPU, a multi-GPU host and (after `jax.distributed.initialize`)
several hosts, where each process contributes its slice of the global batch.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh() -> Mesh:
  """A mesh over every device of every process, with one axis named `data`."""
  # Auto axes: XLA propagates the batch sharding through reshapes; explicit
  # (sharding-in-types) axes would demand an out_sharding on every reshape.
  return jax.make_mesh((jax.device_count(),), ("data",),
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def check_batch_size(batch_size: int, mesh: Mesh, name: str = "data.batch_size") -> None:
  """Raises a one-line ValueError unless the batch divides over the devices."""
  n = mesh.devices.size
  if batch_size <= 0 or batch_size % n:
    raise ValueError(f"{name} {batch_size} does not divide over {n} devices; "
                     f"use a positive multiple of {n}")


def round_up(n: int, mesh: Mesh) -> int:
  """The smallest multiple of the device count that is ≥ n."""
  d = mesh.devices.size
  return -(-n // d) * d


def put_batch(batch: dict, mesh: Mesh) -> dict:
  """Places a global host batch sharded over `data`.

  Every process builds the same global batch (same seed and step) and hands over
  only its own rows, so no process reads another's data.
  """
  sharding = batch_sharding(mesh)
  if jax.process_count() == 1:
    return jax.device_put(batch, sharding)
  rows = np.array_split(np.arange(len(next(iter(batch.values())))), jax.process_count())
  mine = rows[jax.process_index()]
  return {k: jax.make_array_from_process_local_data(sharding, v[mine]) for k, v in batch.items()}
