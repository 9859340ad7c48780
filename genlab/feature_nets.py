"""The feature-net service: trains each dataset's domain classifier once, through the
loop, caches it on disk and hands out a loaded `FeatureNet`, once per process.

It sits above the training loop (it calls `genlab.train.run`), so metrics never
train anything: callers get a FeatureNet here BEFORE a run or an evaluation starts
and pass it down. The classifier's config comes from the caller (experiments/ builds
it from `experiments/configs/classifier.py`), since genlab never imports experiments.

The cache entry is an ordinary genlab workdir under
`<genlab data dir>/genlab_feature_nets/<dataset>-<architecture>-<digest>/`, where the
digest hashes the architecture version and the classifier's whole config (steps,
optimizer, data). A different architecture or step count is a different entry, never
a silent reuse; an interrupted training resumes from its checkpoint; a file lock makes
concurrent processes wait for one trainer instead of racing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys

from genlab import data, experiment, filelock, train
from genlab.metrics import feature_net
from genlab.models.classifier import ARCHITECTURE

_LOADED: dict[str, feature_net.FeatureNet] = {}  # loaded and compiled once per process


def cache_root() -> str:
  """$GENLAB_CACHE_DIR, else `genlab_feature_nets` inside genlab's data dir."""
  return os.path.expanduser(os.environ.get("GENLAB_CACHE_DIR") or
                            os.path.join(data.default_data_dir(), "genlab_feature_nets"))


def cache_dir(config) -> str:
  """The cache workdir of a classifier config."""
  key = ARCHITECTURE + experiment.config_to_json(config)
  digest = hashlib.sha256(key.encode()).hexdigest()[:10]
  slug = re.sub(r"[^A-Za-z0-9_.]+", "_", config.data.name)
  return os.path.join(cache_root(), f"{slug}-{ARCHITECTURE}-{digest}")


def get(config) -> feature_net.FeatureNet:
  """The feature net of a classifier `config`, training and caching it if needed.

  Args:
    config: a locked classification-family config (its data section names the dataset).
  Returns:
    The loaded FeatureNet; the same object for the same config within a process.
  """
  workdir = cache_dir(config)
  if workdir in _LOADED:
    return _LOADED[workdir]
  done = os.path.join(workdir, feature_net.RECORD)
  with filelock.locked(workdir + ".lock"):
    if not os.path.exists(done):
      print(f"training the {config.data.name} feature net once "
            f"({config.train.num_steps} steps), cached in {workdir}", file=sys.stderr)
      result = train.run(config, workdir)
      record = {"name": os.path.basename(workdir), "accuracy": result["test/accuracy"]}
      with open(done + ".tmp", "w") as f:
        json.dump(record, f)
      os.replace(done + ".tmp", done)
  _LOADED[workdir] = feature_net.load(workdir)
  return _LOADED[workdir]
