"""The domain feature network: trained once per dataset through genlab's loop, cached.

The cache entry is an ordinary genlab workdir under
`<genlab data dir>/genlab_feature_nets/<dataset>-<architecture>-<digest>/`, where the
digest hashes the architecture version and the classifier's whole config (steps,
optimizer, data). A different architecture or step count is a different entry, never
a silent reuse; an interrupted training resumes from its checkpoint; a file lock makes
concurrent evaluations wait for one trainer instead of racing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np

from genlab import data, experiment, train
from genlab.models.classifier import ARCHITECTURE

_DONE = "feature_net.json"  # written last: its presence marks a finished entry
_BATCH = 500


def cache_root() -> str:
  """$GENLAB_CACHE_DIR, else `genlab_feature_nets` inside genlab's data dir."""
  return os.path.expanduser(os.environ.get("GENLAB_CACHE_DIR") or
                            os.path.join(data.default_data_dir(), "genlab_feature_nets"))


def classifier_config(dataset: str, num_steps: int, data_dir: str = ""):
  """The locked config of the feature net for `dataset` (experiments/configs/classifier.py)."""
  # The one definition of the network lives with the other configs, so
  # `python -m experiments.main --config=experiments/configs/classifier.py` trains it too.
  from experiments.configs import classifier  # pylint: disable=import-outside-toplevel
  config = classifier.get_config(f"steps={num_steps}")
  with config.unlocked():
    config.data.name = dataset
    config.data.data_dir = data_dir
  config.lock()
  return config


def cache_dir(config) -> str:
  key = ARCHITECTURE + experiment.config_to_json(config)
  digest = hashlib.sha256(key.encode()).hexdigest()[:10]
  slug = re.sub(r"[^A-Za-z0-9_.]+", "_", config.data.name)
  return os.path.join(cache_root(), f"{slug}-{ARCHITECTURE}-{digest}")


@contextlib.contextmanager
def _locked(path: str):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


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


def load(dataset: str, num_steps: int, data_dir: str = "") -> FeatureNet:
  """The cached feature net of `dataset`, training it first if the cache lacks it.

  Args:
    dataset: a labelled image dataset name ('mnist5k', 'tfds:mnist', ...).
    num_steps: classifier training steps (part of the cache key).
    data_dir: the dataset's data_dir ('' for the default).
  """
  config = classifier_config(dataset, num_steps, data_dir)
  workdir = cache_dir(config)
  done = os.path.join(workdir, _DONE)
  with _locked(workdir + ".lock"):
    if not os.path.exists(done):
      print(f"training the {dataset} feature net once ({num_steps} steps), cached in "
            f"{workdir}", file=sys.stderr)
      result = train.run(config, workdir)
      record = {"name": os.path.basename(workdir), "accuracy": result["test/accuracy"]}
      with open(done + ".tmp", "w") as f:
        json.dump(record, f)
      os.replace(done + ".tmp", done)
  with open(done) as f:
    record = json.load(f)
  exp, state = experiment.restore(workdir)
  return FeatureNet(record["name"], float(record["accuracy"]), exp.info["num_classes"],
                    exp.model, state.params["classifier"])
