"""Speed of a config's train step and of the loop around it (experiments.benchmark)."""

import math
import os
import platform
import resource
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp

from genlab import experiment, guards, population, sharding, train
from genlab.data import pipeline
from genlab.errors import UserError
from genlab.writers import read_metrics


def cpu_description(cpuinfo: str | None = None) -> str:
  """'MODEL, ISA, N cores' of this host (e.g. 'AMD EPYC, AVX-512, 2 cores'): hosts that
  look alike differ ~1.6× in speed (docs/performance.md), so every record names its CPU.

  `cpuinfo` is /proc/cpuinfo's text (read when None; elsewhere the platform's name)."""
  if cpuinfo is None:
    try:
      with open("/proc/cpuinfo") as f:
        cpuinfo = f.read()
    except OSError:
      cpuinfo = ""
  fields = {}
  for line in cpuinfo.splitlines():
    key, _, value = line.partition(":")
    fields.setdefault(key.strip(), value.strip())
  model = fields.get("model name") or platform.processor() or platform.machine()
  flags = set(fields.get("flags", "").split())
  # What decides which kernels XLA:CPU and its libraries use: AMX, and the widest vectors.
  isa = ["AMX"] if "amx_tile" in flags else []
  isa += [name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2")) if flag in flags][:1]
  return ", ".join([model, *isa, f"{os.cpu_count()} cores"])


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


def _population_inputs(config, exp, per_call):
  """(state, batch, rng, step) of a population's vmapped step (genlab.population)."""
  group = population.members(config, "")
  exps = [exp.for_config(m.config, population.hparams(config, group) is None) for m in group]
  local = sharding.local_batch_size(config.data.batch_size, exp.mesh)
  state = jax.device_put(population.stack([e.init_state() for e in exps]),
                         sharding.replicated(exp.mesh))
  rng = jnp.stack([e.rngs()["train"] for e in exps])
  batch = population.StackedBatches(
      [pipeline.calls(pipeline.train_batches(exp.train, local, m.config.seed), per_call)
       for m in group])[0]
  step = train.jit_train_step(exp.fns, 0, exp.mesh, None, len(group),
                              population.hparams(config, group), steps_per_call=per_call)
  return state, batch, rng, step


class StepRunner:
  """The config's stage-0 train step, jitted as the loop jits it, on one resident batch.

  `run(n)` makes n steps (n / S calls with `train.steps_per_call` = S) and waits for
  them once at the end: dispatched the way the loop dispatches (waiting after every
  call would add a host round trip the loop does not pay). A population
  (`population=K`) runs its vmapped step of all K members.
  """

  def __init__(self, config):
    exp = experiment.build(config)
    self.per_call = guards.steps_per_call(config)
    if population.size(config) > 1:
      state, batch, rng, step = _population_inputs(config, exp, self.per_call)
      batch = jax.device_put(batch)
    else:
      state, rng = exp.init_state(), exp.rngs()["train"]
      local = sharding.local_batch_size(config.data.batch_size, exp.mesh)
      batch = pipeline.calls(pipeline.train_batches(exp.train, local, config.seed), self.per_call)[0]
      step = train.jit_train_step(exp.fns, 0, exp.mesh, steps_per_call=self.per_call)
      batch = sharding.put_local_batch(batch, exp.mesh, int(self.per_call > 1))
    self._state, self._batch, self._rng, self._step = state, batch, rng, step

  def compile(self) -> tuple[float, float]:
    """(seconds to lower and compile, XLA's FLOP count of one step)."""
    t = time.perf_counter()
    compiled = self._step.lower(self._state, self._batch, self._rng).compile()
    seconds = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    # A scan's body (one step) is counted once, as for an unfused step.
    return seconds, float((cost or {}).get("flops", 0.0))

  def run(self, n: int) -> None:
    # Through the jitted function, as the loop calls it: its C++ dispatch path is faster
    # than calling the AOT-compiled object (measured 2.99 ms against the loop's 2.35 ms a
    # step for vae.py).
    state = self._state
    for _ in range(max(n // self.per_call, 1)):
      state, _ = self._step(state, self._batch, self._rng)
    jax.block_until_ready(state)
    self._state = state


def time_step(config, steps: int) -> dict:
  """compile_s, step_s and flops_per_step of the config's stage-0 train step: step_s is
  the median over 5 rounds of steps / 5 back-to-back steps (StepRunner.run)."""
  runner = StepRunner(config)
  compile_s, flops = runner.compile()
  runner.run(3 * runner.per_call)  # warm-up: the first calls compile (again) and allocate
  per_round = max(steps // (5 * runner.per_call), 1) * runner.per_call
  rounds = []
  for _ in range(5):
    t = time.perf_counter()
    runner.run(per_round)
    rounds.append((time.perf_counter() - t) / per_round)
  return dict(compile_s=compile_s, step_s=statistics.median(rounds), flops_per_step=flops)


def loop_period(config) -> int:
  """The loop's period: every cadence (logging, evaluation, grids, checkpoints) divides it."""
  t = config.train
  return math.lcm(t.log_every, t.eval_every, t.sample_every, t.checkpoint_every)


def _check_window(config, steps: int) -> None:
  if steps % loop_period(config):
    raise UserError(f"--loop_steps={steps} is not a multiple of the loop's period, "
                    f"{loop_period(config)} steps (every logging, evaluation, grid and "
                    "checkpoint cadence divides it)")


def loop_steps_per_s(config, steps: int, feature_net=None) -> float:
  """The real loop's steady rate over `steps` steps (a multiple of its period).

  One run of s0 + `steps` steps from scratch, where s0 is the first logging step after
  the first evaluation, grid and checkpoint: everything compiled or started once (the
  step, the evaluation, the process's first data and Orbax calls) falls before s0. The
  window (s0, s0 + steps] then holds whole periods of logging, evaluation, grids and
  checkpoints. Its time comes from the run's own `train/steps_per_sec` records (steps
  since the start ÷ seconds since the start, at each logging step).
  """
  t = config.train
  _check_window(config, steps)
  last_first = max(t.eval_every, t.sample_every, t.checkpoint_every)
  first = -(-last_first // t.log_every) * t.log_every + t.log_every
  run_config = config.copy_and_resolve_references()
  with run_config.unlocked():
    run_config.train.num_steps = first + steps
  with tempfile.TemporaryDirectory(prefix="bench") as workdir:
    train.run(run_config, workdir, feature_net=feature_net)
    rates = {r["step"]: r["train/steps_per_sec"] for r in read_metrics(workdir)
             if "train/steps_per_sec" in r}
  seconds = (first + steps) / rates[first + steps] - first / rates[first]
  return steps / seconds


def benchmark(config, steps: int, loop_steps: int | None = None, name: str = "",
              feature_net=None) -> dict:
  """The JSON record of experiments.benchmark (see there); `feature_net` as for
  genlab.train.run, for configs whose loop scores samples."""
  if loop_steps != 0 and population.size(config) > 1:
    raise UserError("a population's loop is not timed here; add --loop_steps=0")
  if loop_steps:
    _check_window(config, loop_steps)  # before minutes of timing, not after
  peak = matmul_peak_gflops()
  timed = time_step(config, steps)
  m = loop_steps
  if m is None:  # whole periods, at least ~10 s of steps, so the window is not noise
    period = loop_period(config)
    m = period * max(1, math.ceil(10.0 / (period * timed["step_s"])))
  batch = config.data.batch_size * population.size(config)  # images per step, all members
  step_s = timed["step_s"]
  out = dict(config=name, batch_size=config.data.batch_size,
             members=population.size(config), devices=jax.device_count(),
             backend=jax.default_backend(), cpu=cpu_description(),
             compile_s=round(timed["compile_s"], 3),
             step_ms=round(1e3 * step_s, 3), images_per_s=round(batch / step_s, 1),
             flops_per_step=timed["flops_per_step"],
             gflops=round(timed["flops_per_step"] / step_s / 1e9, 2),
             peak_gflops=round(peak, 1))
  out["peak_fraction"] = round(out["gflops"] / peak, 3)
  if m:
    rate = loop_steps_per_s(config, m, feature_net) * batch
    out["loop_steps"] = m
    out["end_to_end_images_per_s"] = round(rate, 1)
    out["pipeline_efficiency"] = round(rate / out["images_per_s"], 3)
  out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
  return out
