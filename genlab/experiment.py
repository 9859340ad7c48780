"""Builds everything a run needs from a config: data, model, step functions, mesh.

Shared by training, evaluation and sampling, so all three see the same objects.
"""

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np

from genlab import data, models, sharding, steps
from genlab.checkpoint import CheckpointError, Checkpointer
from genlab.data import transforms
from genlab.state import TrainState


class ConfigMismatchError(ValueError):
  """The workdir already holds a run with a different config."""


@dataclasses.dataclass
class Experiment:
  config: ml_collections.ConfigDict
  info: dict
  train: tuple[np.ndarray, np.ndarray]
  test: tuple[np.ndarray, np.ndarray]
  model: object
  fns: steps.StepFns
  mesh: jax.sharding.Mesh

  def rngs(self) -> dict[str, jax.Array]:
    """Independent streams, so evaluating or sampling never shifts training's."""
    init, train, evaluation, sample = jax.random.split(jax.random.key(self.config.seed), 4)
    return {"init": init, "train": train, "eval": evaluation, "sample": sample}

  def init_state(self) -> TrainState:
    """A fresh, replicated train state (jit-initialised, never materialised twice)."""
    images, labels = self.train
    n = self.config.data.batch_size
    example = {"image": images[:n], "label": labels[:n]}
    init = jax.jit(self.fns.init, out_shardings=sharding.replicated(self.mesh))
    return init(self.rngs()["init"], example)


def build(config: ml_collections.ConfigDict) -> Experiment:
  """Loads the data and builds model, step functions and mesh for `config`."""
  data_dir = config.data.data_dir or None
  info = data.dataset_info(config.data.name, data_dir)
  train = data.load_arrays(config.data.name, "train", data_dir)
  if config.data.get("train_classes"):
    train = _only_classes(train, tuple(config.data.train_classes), config.data.name)
  test = data.load_arrays(config.data.name, "test", data_dir)
  if config.data.binarize:
    test = (transforms.binarize_fixed(test[0]), test[1])
  model = models.build(config.model, info)
  fns = steps.build(config, model)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.data.batch_size, mesh)
  sharding.check_batch_size(config.data.eval_batch_size, mesh, "data.eval_batch_size")
  return Experiment(config, info, train, test, model, fns, mesh)


def _only_classes(split, classes, name):
  """The examples of `split` whose label is in `classes` (one-class training)."""
  images, labels = split
  keep = np.isin(labels, classes)
  if not keep.any():
    raise ValueError(f"data.train_classes={classes} selects no training example of {name!r}")
  return images[keep], labels[keep]


def restore(workdir: str) -> tuple[Experiment, TrainState]:
  """Rebuilds a workdir's experiment and restores its newest checkpoint."""
  config = load_config(workdir)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  hint = ("no checkpoint in {}; train first with python -m experiments.main "
          "--config=... --workdir={}").format(ckpt_dir, workdir)
  if not any(d.isdigit() for d in (os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else [])):
    raise CheckpointError(hint)
  exp = build(config)
  ckpt = Checkpointer(ckpt_dir, config.train.checkpoint_every, config.train.keep_checkpoints)
  try:
    state = ckpt.restore(exp.init_state())
  finally:
    ckpt.close()
  if state is None:
    raise CheckpointError(hint)
  return exp, state


def config_to_json(config: ml_collections.ConfigDict) -> str:
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=list)


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a workdir was trained with, locked."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found; is {workdir!r} a genlab workdir? "
                            "train one with python -m experiments.main first")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  config.lock()
  return config


def check_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises ConfigMismatchError if `workdir` holds a run with a different config."""
  path = os.path.join(workdir, "config.json")
  if os.path.exists(path):
    write_or_check_config(config, workdir)


def write_or_check_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes config.json, or refuses a workdir that holds a different config."""
  path = os.path.join(workdir, "config.json")
  text = config_to_json(config)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    new = json.loads(text)
    if old != new:
      diff = sorted(_diff_keys(old, new))
      raise ConfigMismatchError(
          f"{workdir!r} holds a run with a different config (differs in: "
          f"{', '.join(diff[:6])}); use a new --workdir or rerun with the same config")
    return
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    f.write(text)


def _diff_keys(a, b, prefix=""):
  if isinstance(a, dict) and isinstance(b, dict):
    for k in set(a) | set(b):
      yield from _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
  elif a != b:
    yield prefix.rstrip(".")
