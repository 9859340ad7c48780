"""Trains one config in a workdir (resuming automatically).

  python -m experiments.main --config=experiments/configs/NAME.py[:ARGS] --workdir=DIR \
      [--config.KEY=VALUE ...]
"""

from absl import flags
from ml_collections import config_flags

from experiments import cli, features
from genlab import experiment, train
from genlab.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/configs/NAME.py[:ARGS]",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "output directory; rerun to resume")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  # train.run checks these too; here they also come before any feature net is trained.
  experiment.check_workdir(_WORKDIR.value)
  experiment.validate(_CONFIG.value)
  result = train.run(_CONFIG.value, _WORKDIR.value,
                     feature_net=features.for_training(_CONFIG.value))
  summary = lambda r: ", ".join(f"{k}={v:.5g}" for k, v in r.items() if k.startswith("test/"))
  for workdir, member in result.get("members", {_WORKDIR.value: result}).items():
    print(f"done: step {result['step']} in {workdir} {summary(member)}")


if __name__ == "__main__":
  cli.run_main(main)
