"""One-class anomaly detection: per class, train on it, score all test images, AUROC.

  python -m experiments.anomaly --config=experiments/configs/NAME.py[:ARGS] --workdir=ROOT \
      [--config.KEY=VALUE ...] [--classes=0,1,...] [--steps=N]

Each class trains in ROOT/class_<c> (a normal workdir; rerun to resume); results go
to ROOT/anomaly.json, ROOT/anomaly.md and ROOT/anomaly.png. See genlab/anomaly.py
for the protocol and how training steps are scaled to one class.
"""

from absl import flags
from ml_collections import config_flags

from experiments import cli
from genlab import anomaly
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


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  classes = parse_classes(_CLASSES.value)
  config_arg = config_flags.get_config_filename(flags.FLAGS["config"])
  result = anomaly.run(_CONFIG.value, _WORKDIR.value, classes=classes, steps=_STEPS.value,
                       config_arg=config_arg)
  print(f"anomaly: auroc/mean={result['auroc/mean']:.4f} → {_WORKDIR.value}/anomaly.json")


if __name__ == "__main__":
  cli.run_main(main)
