"""The train state: one pytree that holds any number of networks.

Every field is a dict keyed by network name ("ae", later "g"/"d", ...), so a step
family can carry several networks, optimizers, EMA copies and small extra arrays
(running averages, stage/alpha) without changing the loop or the checkpointer.
Optimizers themselves are not stored: they are static and live in the step closure.
"""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: dict[str, Any]
  opt_state: dict[str, Any]
  model_state: dict[str, Any]  # mutable flax collections (batch_stats, spectral vectors)
  extra: dict[str, Any]  # EMA params, running averages, other small state


def create(params: dict, opt_state: dict, model_state: dict | None = None,
           extra: dict | None = None) -> TrainState:
  """Returns a TrainState at step 0."""
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=opt_state,
                    model_state=model_state or {}, extra=extra or {})


def num_params(tree: Any) -> int:
  """Total number of scalars in a parameter pytree."""
  return int(sum(x.size for x in jax.tree.leaves(tree)))
