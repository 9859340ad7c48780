"""Speed of one config: its jitted train step, and the whole loop around it.

  python -m experiments.benchmark --config=experiments/configs/NAME.py[:ARGS] [--steps=N] \
      [--loop_steps=M] [--config.KEY=VALUE ...]

Prints one JSON line:
  compile_s        lowering + compiling the train step (stage 0)
  step_ms          median of --steps calls of the compiled step on one resident batch,
                   after warm-up, each waited for
  images_per_s     data.batch_size / step
  flops_per_step   XLA's cost analysis of the compiled step
  gflops, peak_fraction   achieved rate, and that over the `jnp.dot` peak (2048² float32
                   matmuls) measured in the same process, `peak_gflops`
  end_to_end_images_per_s  the real loop (genlab.train.run: data, logging, the config's
                   in-loop evaluation, sample grids and checkpoints) as a marginal rate:
                   runs of M and 2M steps from scratch, so start-up, compilation and the
                   final evaluation cancel. M defaults to the config's `eval_every`, so the
                   longer run holds exactly one more evaluation interval
  pipeline_efficiency      end-to-end ÷ images_per_s
  peak_rss_mb      the process's peak resident memory

`--loop_steps=0` skips the loop measurement. Staged (growing) models are timed at stage 0.
"""

import json
import resource
import statistics
import tempfile
import time

from absl import flags
import jax
import jax.numpy as jnp
from ml_collections import config_flags

from experiments import cli, features
from genlab import experiment, sharding, train
from genlab.data import pipeline
from genlab.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/configs/NAME.py[:ARGS]",
                                          lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 50, "timed calls of the compiled step", lower_bound=1)
_LOOP_STEPS = flags.DEFINE_integer(
    "loop_steps", None, "steps of the shorter loop run (default: the config's eval_every); "
    "0 skips the loop", lower_bound=0)
flags.mark_flags_as_required(["config"])


def matmul_peak_gflops(n: int = 2048, repeats: int = 10) -> float:
  """The best of `repeats` timed n×n float32 matmuls, in GFLOP/s."""
  a = jnp.ones((n, n), jnp.float32)
  dot = jax.jit(jnp.dot)
  dot(a, a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    dot(a, a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n**3 / min(times) / 1e9


def time_step(config, steps: int) -> dict:
  """compile_s, step_ms, flops_per_step of the config's stage-0 train step."""
  exp = experiment.build(config)
  state, rng = exp.init_state(), exp.rngs()["train"]
  local = sharding.local_batch_size(config.data.batch_size, exp.mesh)
  batch = sharding.put_local_batch(pipeline.train_batches(exp.train, local, config.seed)[0],
                                   exp.mesh)
  step = train.jit_train_step(exp.fns, 0, exp.mesh)
  t = time.perf_counter()
  compiled = step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - t
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float((cost or {}).get("flops", 0.0))
  for _ in range(3):  # warm-up: the first calls allocate
    state, _ = compiled(state, batch, rng)
  jax.block_until_ready(state)
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    state, _ = compiled(state, batch, rng)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - t)
  return dict(compile_s=compile_s, step_s=statistics.median(times), flops_per_step=flops)


def loop_steps_per_s(config, steps: int) -> float:
  """Marginal steps/s of the real loop: runs of `steps` and 2 × `steps` from scratch."""
  feature_net = features.for_training(config)
  walls = []
  for n in (steps, 2 * steps):
    run_config = config.copy_and_resolve_references()
    with run_config.unlocked():
      run_config.train.num_steps = n
    with tempfile.TemporaryDirectory(prefix="bench") as workdir:
      t = time.perf_counter()
      train.run(run_config, workdir, feature_net=feature_net)
      walls.append(time.perf_counter() - t)
  if walls[1] - walls[0] < 0.1 * walls[0]:
    raise UserError(f"the loop runs of {steps} and {2 * steps} steps took {walls[0]:.1f} s "
                    f"and {walls[1]:.1f} s: too close to measure; raise --loop_steps")
  return steps / (walls[1] - walls[0])


def benchmark(config, steps: int, loop_steps: int | None, name: str = "") -> dict:
  peak = matmul_peak_gflops()
  timed = time_step(config, steps)
  batch = config.data.batch_size
  step_s = timed["step_s"]
  out = dict(config=name, batch_size=batch, devices=jax.device_count(),
             backend=jax.default_backend(), compile_s=round(timed["compile_s"], 3),
             step_ms=round(1e3 * step_s, 3), images_per_s=round(batch / step_s, 1),
             flops_per_step=timed["flops_per_step"],
             gflops=round(timed["flops_per_step"] / step_s / 1e9, 2),
             peak_gflops=round(peak, 1))
  out["peak_fraction"] = round(out["gflops"] / peak, 3)
  m = config.train.eval_every if loop_steps is None else loop_steps
  if m:
    rate = loop_steps_per_s(config, m) * batch
    out["loop_steps"] = m
    out["end_to_end_images_per_s"] = round(rate, 1)
    out["pipeline_efficiency"] = round(rate / out["images_per_s"], 3)
  out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
  return out


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  experiment.validate(_CONFIG.value)
  name = getattr(flags.FLAGS["config"], "config_filename", "")
  print(json.dumps(benchmark(_CONFIG.value, _STEPS.value, _LOOP_STEPS.value, name)))


if __name__ == "__main__":
  cli.run_main(main)
