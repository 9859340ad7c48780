"""Fault injection: runs SIGKILLed at random points, each time resumed with the same
command, must end bit-identical to a run that was never interrupted.

A trial kills one run five times (genlab.faults: a real SIGKILL at a random step, at
least once while a checkpoint is being written), reruns the command after each kill, and
lets the last rerun finish. It then compares the final checkpoint (parameters, optimizer
states, batch statistics, EMA: every array, bit for bit) and metrics.jsonl (every record,
except the wall-clock `train/steps_per_sec`) with the uninterrupted reference run.

  make faults        # 20 trials per family: python tests/fault_injection.py --trials=20

tests/test_fault_injection.py runs one trial per family in `make test`. Commands run in a
pre-imported zygote (tests/zygote.py), so a run costs its compile and steps, not imports.
"""

import argparse
import os
import random
import sys
import tempfile

import jax
import numpy as np

_TESTS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(_TESTS)

NUM_STEPS, EVERY = 40, 5  # `make faults`; tests/test_fault_injection.py runs 20 and 4
# Each family's smoke config, checkpointed every 5 steps so kills land between and in
# saves; the GAN keeps an EMA of G so that the EMA is part of what must survive.
FAMILIES = {
    "ae": ["ae.py:smoke"],
    "vae": ["vae.py:smoke"],
    "gan": ["gan.py:smoke", "--config.gan.ema_decay=0.9"],
}
# Fields of metrics.jsonl that measure wall-clock time, not the run.
VOLATILE = frozenset({"train/steps_per_sec"})
KILLS = 5


def cache_env(root: str) -> dict:
  """A persistent compilation cache under `root`: a killed run's reruns then load their
  executables instead of compiling them again (1-3 s a run instead of 4-7 on 2 cores)."""
  return dict(JAX_COMPILATION_CACHE_DIR=os.path.join(root, "jax_cache"),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
              JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def command(family: str, workdir: str, num_steps: int = NUM_STEPS,
            every: int = EVERY) -> list[str]:
  """The run: a checkpoint and a log record every `every` steps, evaluation and sample
  grids halfway and at the end."""
  config, *overrides = FAMILIES[family]
  return [f"--config=experiments/configs/{config}", f"--workdir={workdir}",
          f"--config.train.num_steps={num_steps}", f"--config.train.log_every={every}",
          f"--config.train.checkpoint_every={every}", "--config.train.keep_checkpoints=3",
          f"--config.train.eval_every={num_steps // 2}",
          f"--config.train.sample_every={num_steps // 2}", *overrides]


def faults(rng: random.Random, num_steps: int = NUM_STEPS, every: int = EVERY) -> list[str]:
  """KILLS distinct kill points in step order, at least one inside a checkpoint save.

  Each fires: a rerun resumes at or before the previous kill's step, so it passes the
  next one; a save at a checkpoint step is always due, as no checkpoint of it exists yet.
  """
  saves = list(range(every, num_steps + 1, every))
  while True:
    steps = sorted(rng.sample(range(1, num_steps + 1), KILLS))
    points = [f"{s}:{rng.choice(('step', 'save')) if s in saves else 'step'}" for s in steps]
    if any(p.endswith(":save") for p in points):
      return points


def _run(zygote, family: str, workdir: str, fault: str | None, plan: tuple):
  extra = {"GENLAB_FAULT": fault} if fault else {}
  return zygote.run("experiments.main", command(family, workdir, *plan), REPO_ROOT,
                    timeout=600, extra_env=extra)


def _final(workdir: str):
  from genlab import experiment  # pylint: disable=import-outside-toplevel
  from genlab.writers import read_metrics  # pylint: disable=import-outside-toplevel
  _, state = experiment.restore(workdir)
  metrics = [{k: v for k, v in r.items() if k not in VOLATILE} for r in read_metrics(workdir)]
  return jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0], metrics


def differences(reference: str, workdir: str) -> list[str]:
  """What differs between two finished runs' final states and metrics ([] = identical)."""
  (ref_leaves, ref_metrics), (leaves, metrics) = _final(reference), _final(workdir)
  out = []
  if len(ref_leaves) != len(leaves):
    out.append(f"{len(leaves)} arrays, reference {len(ref_leaves)}")
  for (path, a), (_, b) in zip(ref_leaves, leaves):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
      out.append(f"array {jax.tree_util.keystr(path)} differs")
  if ref_metrics != metrics:
    diff = [r["step"] for r, m in zip(ref_metrics, metrics) if r != m]
    out.append(f"metrics.jsonl differs ({len(metrics)} records, reference "
               f"{len(ref_metrics)}; first differing step {diff[:1] or 'past the end'})")
  return out


def reference(zygote, family: str, root: str, plan: tuple = (NUM_STEPS, EVERY)) -> str:
  """The uninterrupted run; `plan` is (num_steps, every) of `command`."""
  workdir = os.path.join(root, f"{family}_reference")
  proc = _run(zygote, family, workdir, None, plan)
  if proc.returncode != 0:
    raise RuntimeError(f"{family} reference run failed:\n{proc.stderr[-3000:]}")
  return workdir


def trial(zygote, family: str, root: str, ref: str, seed: int,
          plan: tuple = (NUM_STEPS, EVERY)) -> tuple[list[str], list[str]]:
  """(kill points, differences from the reference) of one trial."""
  workdir = os.path.join(root, f"{family}_trial{seed}")
  points = faults(random.Random(f"{family}{seed}"), *plan)
  for point in points:
    proc = _run(zygote, family, workdir, point, plan)
    if proc.returncode != -9:
      return points, [f"the run was not killed at {point} (exit {proc.returncode}):\n"
                      f"{proc.stderr[-2000:]}"]
  proc = _run(zygote, family, workdir, None, plan)
  if proc.returncode != 0:
    return points, [f"the final rerun failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"]
  return points, differences(ref, workdir)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--trials", type=int, default=20)
  parser.add_argument("--families", default=",".join(FAMILIES))
  parser.add_argument("--root", default=None, help="keep the runs here (default: a temp dir)")
  args = parser.parse_args(argv)
  sys.path.insert(0, _TESTS)
  import zygote as zygote_lib  # pylint: disable=import-outside-toplevel
  failed = 0
  with tempfile.TemporaryDirectory(prefix="faults") as tmp:
    root = args.root or tmp
    zygote = zygote_lib.Zygote(dict(os.environ, OPENBLAS_NUM_THREADS="1", **cache_env(root)),
                               REPO_ROOT)
    try:
      for family in args.families.split(","):
        ref = reference(zygote, family, root)
        identical = 0
        for seed in range(args.trials):
          points, diff = trial(zygote, family, root, ref, seed)
          identical += not diff
          status = "identical" if not diff else "DIFFERS: " + "; ".join(diff)
          print(f"{family} trial {seed}: killed at {', '.join(points)}: {status}", flush=True)
        failed += identical != args.trials
        print(f"{family}: {identical}/{args.trials} identical", flush=True)
    finally:
      zygote.close()
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
