"""The domain feature network behind dFID & co: a trained classifier, loaded from its workdir.

Metrics never train: `genlab.feature_nets` (above the training loop) trains and caches
the classifier once per dataset and hands a `FeatureNet` to whoever scores samples.
This module only reads a finished workdir (its config, its checkpoint and the
`feature_net.json` record the service writes last).
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genlab import data, models
from genlab.checkpoint import Checkpointer
from genlab.errors import UserError
from genlab.steps import classification

RECORD = "feature_net.json"  # written last by the service: its presence marks a finished net
_BATCH = 500


@dataclasses.dataclass
class FeatureNet:
  """A trained domain classifier: penultimate features and predicted classes.

  Attributes:
    name: the protocol id stored with every score (dataset, architecture, digest).
    accuracy: its accuracy on the dataset's test split.
    num_classes: classes it predicts.
  """

  name: str
  accuracy: float
  num_classes: int
  _model: object
  _params: dict

  def __post_init__(self):
    apply = self._model.apply
    self._features = jax.jit(lambda p, x: apply({"params": p}, x, method="features"))
    self._logits = jax.jit(lambda p, x: apply({"params": p}, x))

  def _batched(self, fn, images: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(images), _BATCH):
      x = jnp.asarray(images[i:i + _BATCH])
      x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)
      out.append(np.asarray(fn(self._params, x)))
    return np.concatenate(out)

  def features(self, images: np.ndarray) -> np.ndarray:
    """[N, F] features of uint8 images or float images in [0, 1] (NHWC)."""
    return self._batched(self._features, images)

  def predict(self, images: np.ndarray) -> np.ndarray:
    """[N] predicted classes."""
    return self._batched(self._logits, images).argmax(-1)


def load(workdir: str) -> FeatureNet:
  """The finished feature net in `workdir` (a classification-family workdir).

  Raises:
    UserError: the workdir holds no finished feature net.
  """
  record_path = os.path.join(workdir, RECORD)
  if not os.path.exists(record_path):
    raise UserError(f"{workdir} holds no finished feature net ({RECORD} is missing); "
                    "genlab.feature_nets trains one")
  with open(record_path) as f:
    record = json.load(f)
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  info = data.dataset_info(config.data.name, config.data.data_dir or None)
  model = models.build(config.model, info)
  fns = classification.make(model, config, info)
  example = {"image": np.zeros((1, *info["image_shape"]), np.uint8),
             "label": np.zeros((1,), np.int64)}
  template = jax.eval_shape(fns.init, jax.random.key(0), example)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.checkpoint_every,
                      config.train.keep_checkpoints)
  try:
    state = ckpt.restore(template)
  finally:
    ckpt.close()
  if state is None:
    raise UserError(f"{workdir} has a {RECORD} but no checkpoint")
  return FeatureNet(record["name"], float(record["accuracy"]), info["num_classes"], model,
                    state.params[classification.NETWORK])
