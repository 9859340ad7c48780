"""Runs a config file's hyperparameter sweep: one `experiments.main` process per point.

  python -m experiments.sweep --config=experiments/configs/NAME.py[:ARGS] --workdir=ROOT \
      [--parallel=K] [--noevaluate] [--collect] [--emit=slurm [--slurm_header=LINES]] \
      [--point=I]

The config file's `sweep()` gives the points (genlab.sweeps) and `SWEEP_METRIC`, e.g.
("test/mse", "min"), orders the results. Every point is checked against `get_config(ARGS)`
before anything runs. Point NAME trains in ROOT/NAME (`experiments.main` with
`--config.KEY=VALUE` overrides), is evaluated (`experiments.evaluate`, unless
--noevaluate), and logs to ROOT/NAME/sweep.log. Rerunning the command skips finished
points and resumes the others; ROOT/results.{csv,md,png} summarise the sweep.
A user guide: docs/sweeps.md.
"""

import os

from absl import flags

from experiments import cli
from experiments.sweep_runner import (collect, emit_slurm, load, run_all, run_point,
                                      write_or_check_manifest, write_results)
from genlab.errors import UserError

_CONFIG = flags.DEFINE_string("config", None, "experiments/configs/NAME.py[:ARGS], whose "
                              "module defines sweep()")
_WORKDIR = flags.DEFINE_string("workdir", None, "the sweep's root: one directory per point")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "points run at once (with --emit=slurm: "
                                 "the array's limit on running tasks)", lower_bound=1)
_EVALUATE = flags.DEFINE_bool("evaluate", True, "run experiments.evaluate after training "
                              "each point; --noevaluate reads metrics.jsonl instead")
_COLLECT = flags.DEFINE_bool("collect", False, "run nothing: (re)write ROOT/results.* "
                             "from the finished points")
_EMIT = flags.DEFINE_enum("emit", None, ["slurm"], "run nothing: write ROOT/sweep.sbatch, "
                          "a job array with one task per point")
_SLURM_HEADER = flags.DEFINE_string("slurm_header", "", "extra lines for sweep.sbatch after "
                                    "its #SBATCH lines, e.g. '#SBATCH --gres=gpu:1' (newlines "
                                    "or a literal \\n separate lines)")
_POINT = flags.DEFINE_integer("point", None, "run only point I (0-based, sweep order); "
                              "what each task of --emit=slurm's array runs", lower_bound=0)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  modes = [f for f, on in (("--collect", _COLLECT.value), ("--emit", _EMIT.value),
                           ("--point", _POINT.value is not None)) if on]
  if len(modes) > 1:
    raise UserError(f"{' and '.join(modes)} do not go together")
  sweep = load(_CONFIG.value, _WORKDIR.value, _EVALUATE.value)
  if _POINT.value is not None and _POINT.value >= len(sweep.points):
    raise UserError(f"--point={_POINT.value}: the sweep has points 0-{len(sweep.points) - 1}")
  if _COLLECT.value and not os.path.exists(os.path.join(sweep.root, "sweep.json")):
    raise UserError(f"{sweep.root} holds no sweep (no sweep.json): nothing to collect")
  write_or_check_manifest(sweep)
  if _EMIT.value:
    path = emit_slurm(sweep, _SLURM_HEADER.value,
                      _PARALLEL.value if flags.FLAGS["parallel"].present else None)
    print(f"wrote {path}: {len(sweep.points)} array tasks, one per point\n"
          f"submit:      sbatch {path}\n"
          f"afterwards:  {sweep.command_line('--collect')}")
    return 0
  if _POINT.value is not None:
    status = run_point(sweep, _POINT.value, wait=True)
    print(f"{sweep.names[_POINT.value]}: {status}")
    return 1 if status == "failed" else 0
  if not _COLLECT.value:
    print(f"sweep: {len(sweep.points)} points of {sweep.config} in {sweep.root}", flush=True)
    run_all(sweep, _PARALLEL.value)
  rows = collect(sweep)
  write_results(sweep, rows)
  print(f"results: {sweep.root}/results.md ({sum(r.status == 'ok' for r in rows)} of "
        f"{len(rows)} ok)")
  return 1 if any(r.status == "failed" for r in rows) else 0


if __name__ == "__main__":
  cli.run_main(main)
