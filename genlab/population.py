"""Populations: K copies of one small model trained together in one vmapped step.

`--config.population=K` trains K members whose seeds are seed, seed + 1, ..., and with
`--config.population_sweep=KEY=v1,...,vK` member k also has KEY = v_k, where KEY is a
scalar the train step reads as a traced hyperparameter (a learning rate, β, a loss
weight: genlab.steps.base.Hparams). Their states are stacked on a leading axis of size
K and `jax.vmap` of the family's train step advances all of them at once: one compile,
one dispatch per step, K× the arithmetic per kernel, which is what small models lack.

Member k is an ordinary run in WORKDIR/<name> (e.g. `seed=3` or
`learning_rate=0.003,seed=1`): the config.json a single run with its seed and value
would write, its own metrics.jsonl, samples/ and checkpoints/. So experiments.evaluate
and experiments.sample read it like any run, its metrics are those the run would have
logged, and rerunning the population resumes every member. WORKDIR/config.json holds the
population's own config.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genlab import sweeps
from genlab.errors import UserError

FIELDS = ("population", "population_sweep")


@dataclasses.dataclass
class Member:
  """One run of a population (or the run itself when there is no population)."""

  config: ml_collections.ConfigDict  # the config a single run of this member has
  workdir: str
  value: float | None = None  # its value of the swept key, if any


def size(config) -> int:
  return int(config.get("population", 1))


def _sweep(config) -> tuple[str, list[float]] | None:
  """(KEY, values) of `population_sweep`, None when only seeds differ."""
  spec = config.get("population_sweep", "")
  if not spec:
    return None
  key, sep, values = spec.partition("=")
  try:
    parsed = [float(v) for v in values.split(",")] if sep and key else None
  except ValueError:
    parsed = None
  if parsed is None:
    raise UserError(f"population_sweep {spec!r} is not KEY=v1,v2,... (e.g. "
                    "optim.learning_rate=1e-3,3e-3)")
  node = config
  for part in key.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise UserError(f"population_sweep: {key!r} is not a config field")
    node = node[part]
  if isinstance(node, bool) or not isinstance(node, (int, float)):
    raise UserError(f"population_sweep: {key!r} is {node!r}, not a number")
  if len(parsed) != size(config):
    raise UserError(f"population_sweep gives {len(parsed)} values of {key} for "
                    f"population={size(config)}; give one per member")
  return key, parsed


def members(config: ml_collections.ConfigDict, workdir: str) -> list[Member]:
  """The runs `config` trains in `workdir`: itself, or the members of its population."""
  k = size(config)
  if k < 1:
    raise UserError(f"population must be at least 1, got {k}")
  swept = _sweep(config)
  if k == 1:
    if swept:
      raise UserError("population_sweep needs population > 1")
    return [Member(config, workdir)]
  out = []
  for i in range(k):
    c = ml_collections.ConfigDict(config.to_dict())
    c.population, c.population_sweep, c.seed = 1, "", config.seed + i
    name = {"seed": c.seed}
    value = None
    if swept:
      key, values = swept
      *path, last = key.split(".")
      node = c
      for part in path:
        node = node[part]
      value = values[i]
      if isinstance(node[last], int):  # the step then refuses it: no int is traced
        value = int(value)
      node[last] = value
      name[key] = value
    c.lock()
    out.append(Member(c, os.path.join(workdir, sweeps.point_name(name)), value))
  return out


def without_defaults(config_dict: dict) -> dict:
  """A config's dict without the population fields when they are off, so a single run's
  config.json (and each member's) is what it was before populations existed."""
  out = dict(config_dict)
  if out.get("population", 1) == 1 and not out.get("population_sweep", ""):
    for field in FIELDS:
      out.pop(field, None)
  return out


def hparams(config, group: list[Member]) -> dict | None:
  """{KEY: [K] values} of the swept key for the vmapped step, None without one."""
  swept = _sweep(config)
  if swept is None or len(group) == 1:
    return None
  return {swept[0]: jnp.asarray([m.value for m in group], jnp.float32)}


def check_supported(fns, process_count: int) -> None:
  if len(fns.stages) > 1:
    raise UserError("a population cannot train a growing (staged) model")
  if process_count > 1:
    raise UserError("a population trains on one process; run it without --jax_coordinator")


def stack(trees: list):
  return jax.tree.map(lambda *x: jnp.stack(x), *trees)


def member(tree, i: int):
  return jax.tree.map(lambda x: x[i], tree)


def splitter(k: int):
  """A jitted stacked tree -> [member 0's tree, ...]: one dispatch, not one per leaf."""
  return jax.jit(lambda tree: [member(tree, i) for i in range(k)])


class StackedBatches:
  """Item i is every member's batch i (each from its own seeded order), stacked."""

  def __init__(self, datasets: list):
    self._datasets = datasets

  def __getitem__(self, i: int) -> dict:
    items = [d[i] for d in self._datasets]
    return {k: np.stack([item[k] for item in items]) for k in items[0]}
