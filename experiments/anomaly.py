"""One-class anomaly detection: per class, train on it, score all test images, AUROC.

  python -m experiments.anomaly --config=experiments/configs/NAME.py[:ARGS] --workdir=ROOT \
      [--config.KEY=VALUE ...] [--classes=0,1,...] [--steps=N]

Each class trains in ROOT/class_<c> (a normal workdir; rerun to resume); results go
to ROOT/anomaly.json, ROOT/anomaly.md and ROOT/anomaly.png. See genlab/anomaly.py
for the protocol and how training steps are scaled to one class.
"""

import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments import cli
from genlab import anomaly, data, experiment
from genlab.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/configs/NAME.py[:ARGS]",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "output root; rerun to resume")
_CLASSES = flags.DEFINE_list("classes", None, "comma-separated classes (default: all)")
_STEPS = flags.DEFINE_integer("steps", None, "training steps per class (default: the config's "
                              "epochs on one class)", lower_bound=1)
flags.mark_flags_as_required(["config", "workdir"])


def parse_classes(values: list[str] | None) -> list[int] | None:
  """--classes as integers; a one-line UserError for anything else."""
  if not values:
    return None
  classes = []
  for v in values:
    try:
      classes.append(int(v))
    except ValueError:
      raise UserError(f"--classes wants comma-separated integers, got {v!r}") from None
  return classes


def check_class_batches(config, classes: list[int] | None) -> None:
  """A one-line UserError when a class to train has fewer training images than
  data.batch_size: each class trains alone, and anomaly.run finds out only after it
  recorded ROOT/anomaly_config.json (which a corrected rerun would then refuse)."""
  data_dir = config.data.data_dir or None
  info = data.dataset_info(config.data.name, data_dir)
  if info["num_classes"] < 2:
    return  # anomaly.run says why that cannot work
  labels = data.load_arrays(config.data.name, "train", data_dir)[1]
  for c in classes or range(info["num_classes"]):
    n = int(np.sum(labels == c))
    if 0 < n < config.data.batch_size:  # out-of-range classes: anomaly.run names them
      raise UserError(f"data.batch_size {config.data.batch_size} exceeds the {n} training "
                      f"examples of class {c} of {config.data.name!r}, which trains alone; "
                      f"use at most {n}")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  classes = parse_classes(_CLASSES.value)
  # Nothing is written to ROOT before the base config is known to be usable.
  experiment.check_workdir(_WORKDIR.value)
  experiment.validate(_CONFIG.value)
  check_class_batches(_CONFIG.value, classes)
  config_arg = config_flags.get_config_filename(flags.FLAGS["config"])
  result = anomaly.run(_CONFIG.value, _WORKDIR.value, classes=classes, steps=_STEPS.value,
                       config_arg=config_arg)
  print(f"anomaly: auroc/mean={result['auroc/mean']:.4f} → {_WORKDIR.value}/anomaly.json")


if __name__ == "__main__":
  cli.run_main(main)
