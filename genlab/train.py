"""THE training loop: one loop for every step family.

Sections: setup -> state (fresh or restored, shaped by the checkpoint's stage) ->
compiled steps (one train step per stage) -> loop with periodic logging, evaluation,
sample grids, growth between stages and checkpoints. Only process 0 writes metrics,
images and config.json; every process takes part in the checkpoint.
"""

import functools
import sys

import jax
import jax.numpy as jnp
import ml_collections

from genlab import experiment, sharding
from genlab.checkpoint import Checkpointer
from genlab.data import pipeline
from genlab.evaluation.split import evaluate_split, means
from genlab.monitor import LoopMonitor
from genlab.writers import MetricWriter, Progress


class SimulatedInterrupt(RuntimeError):
  """Raised by `run(..., interrupt_at=S)`: a crash after step S, for resume tests."""


def _counted(fn, counts: dict, key):
  """Wraps `fn` so each trace (= compile) increments counts[key]."""
  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    counts[key] = counts.get(key, 0) + 1
    return fn(*args, **kwargs)
  return wrapper


def jit_train_step(fns, stage: int, mesh: jax.sharding.Mesh, compiles: dict | None = None):
  """The family's train step for `stage`, jitted with explicit placement: the state
  replicated in and out (donated, so it is updated in place), the batch split over the
  mesh's `data` axis, the rng replicated. `compiles[stage]` counts its traces."""
  replicated, split = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  step = functools.partial(fns.train_step, stage=stage)
  if compiles is not None:
    step = _counted(step, compiles, stage)
  return jax.jit(step, in_shardings=(replicated, split, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def run(config: ml_collections.ConfigDict, workdir: str, *, feature_net=None,
        interrupt_at: int | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its newest checkpoint if any.

  Args:
    config: a locked experiment config.
    workdir: output directory (config.json, metrics.jsonl, tensorboard/, samples/,
      checkpoints/).
    feature_net: the dataset's FeatureNet (genlab.feature_nets.get), needed when the
      monitor scores image samples at each evaluation (`monitor.sample_scores`).
    interrupt_at: test hook; raise SimulatedInterrupt right after this step.
  Returns:
    {'step', 'compiles': {stage: traces}, 'test/...': final test means}.
  """
  writes = sharding.is_writer()  # only process 0 writes files other than checkpoints
  experiment.check_config(config, workdir)
  exp = experiment.build(config)  # fails fast on bad names/data before touching workdir
  if writes:
    experiment.write_or_check_config(config, workdir)
  tc, fns, mesh = config.train, exp.fns, exp.mesh
  rngs = exp.rngs()

  ckpt = Checkpointer(f"{workdir}/checkpoints", tc.checkpoint_every, tc.keep_checkpoints)
  # A checkpoint holds the networks of its step's stage; restore reads it against them.
  state = ckpt.restore(lambda step: exp.init_state(exp.state_stage(step)))
  if state is None:
    state = exp.init_state()
  else:
    print(f"resumed from step {int(state.step)} in {workdir}", file=sys.stderr)
  start = int(state.step)

  compiles: dict = {}
  train_step = {s: jit_train_step(fns, s, mesh, compiles) for s in fns.stages}
  eval_fns = {s: jax.jit(functools.partial(fns.eval_step, stage=s)) for s in fns.stages}
  visualize = {s: jax.jit(functools.partial(fns.visualize, stage=s)) for s in fns.stages}
  images_shown = exp.info["modality"] == "images"  # 2-D points get a scatter at evaluation
  n_shown = sharding.local_batch_size(sharding.round_up(32, mesh), mesh)
  shown = sharding.put_local_batch({k: v[:n_shown] for k, v in exp.test.items()}, mesh)

  def evaluate(step, stage):
    per_example = evaluate_split(eval_fns[stage], state, exp.test,
                                 config.data.eval_batch_size, rngs["eval"], mesh)
    result = means(per_example, "test")
    writer.scalars(step, result)
    return result

  writer = MetricWriter(workdir, resume_step=start, active=writes)
  # None when the family has no monitor
  monitor = LoopMonitor.build(exp, writer, start, feature_net)
  # Each process batches its own shard; the global batch is the processes' rows.
  batches = pipeline.Prefetcher(
      pipeline.train_batches(exp.train, sharding.local_batch_size(config.data.batch_size, mesh),
                             config.seed), start,
      put=lambda b: sharding.put_local_batch(b, mesh))
  progress = Progress(start, tc.num_steps)
  pending: list = []
  result = {}
  try:
    for step in range(start, tc.num_steps):
      stage = fns.stage_at(step)
      state, metrics = train_step[stage](state, next(batches), rngs["train"])
      pending.append(metrics)
      done = step + 1
      last = done == tc.num_steps
      if done % tc.log_every == 0 or last:
        # One host sync per log interval, not per step.
        stacked = jax.device_get(jax.tree.map(lambda *x: jnp.mean(jnp.stack(x)), *pending))
        pending = []
        logged = {f"train/{k}": v for k, v in stacked.items()}
        logged["train/steps_per_sec"] = progress.rate(done)
        logged["train/stage"] = stage
        writer.scalars(done, logged)
        progress.update(done, f"loss {logged['train/loss']:.4f}")
        if monitor:
          monitor.log(done, logged)
      # Evaluation and grids see the stage just trained, before any growth.
      if done % tc.eval_every == 0 or last:
        result = evaluate(done, stage)
        if monitor:
          monitor.evaluate(done, state)
      if images_shown and (done % tc.sample_every == 0 or last):
        for name, images in sharding.gather(visualize[stage](state, shown)).items():
          writer.images(done, name, images, ncol=8)
      if not last and fns.stage_at(done) != stage:
        # Grown before the checkpoint, so a checkpoint at `done` holds the networks of
        # the stage its next step trains (what restore's template expects).
        # Placed like the rest of the state, so the next stage's step compiles once.
        state = jax.device_put(fns.grow(state, fns.stage_at(done)), sharding.replicated(mesh))
      ckpt.save(done, state, force=last)
      if interrupt_at is not None and done == interrupt_at:
        raise SimulatedInterrupt(f"interrupted after step {done}")
    if start >= tc.num_steps:
      print(f"nothing to train: {workdir} is already at step {start}", file=sys.stderr)
  finally:
    batches.close()
    ckpt.close()
    writer.close()
  return {"step": int(state.step), "compiles": compiles, **result}
