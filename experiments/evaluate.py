"""Evaluates a trained workdir: writes DIR/eval.json, DIR/report.md and PNGs.

  python -m experiments.evaluate --workdir=DIR
"""

import json

from absl import flags

from experiments import cli, features
from genlab import evaluate, experiment
from genlab.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "a workdir trained by experiments.main")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = experiment.load_config(_WORKDIR.value)
  experiment.check_workdir(_WORKDIR.value)  # eval.json, report.md and figures go there
  experiment.check_checkpoint(_WORKDIR.value)  # before a feature net is trained for it
  metrics = evaluate.evaluate(_WORKDIR.value, features.for_evaluation(config))
  print(json.dumps(metrics, indent=2, sort_keys=True))
  print(f"report: {_WORKDIR.value}/report.md")


if __name__ == "__main__":
  cli.run_main(main)
