"""THE training loop: one loop for every step family.

Sections: setup -> state (fresh or restored, shaped by the checkpoint's stage) ->
compiled steps (one train step per stage) -> loop with periodic logging, evaluation,
sample grids, growth between stages and checkpoints. Only process 0 writes metrics,
images and config.json; every process takes part in the checkpoint.

A population (genlab.population) is the same loop over K member runs whose states are
stacked and stepped by one vmapped train step; everything a run writes, each member
writes in its own workdir. With one member (every ordinary run) nothing is stacked.
"""

import contextlib
import functools
import sys

import jax
import jax.numpy as jnp
import ml_collections

from genlab import experiment, faults, guards, nonfinite, population, sharding
from genlab.checkpoint import Checkpointer
from genlab.data import pipeline
from genlab.errors import UserError
from genlab.evaluation.split import evaluate_split, means
from genlab.interval_log import IntervalLog
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


def jit_train_step(fns, stage: int, mesh: jax.sharding.Mesh, compiles: dict | None = None,
                   members: int = 1, hparams: dict | None = None, skip_nonfinite: bool = False,
                   steps_per_call: int = 1):
  """The family's train step for `stage`, jitted with explicit placement: the state
  replicated in and out (donated, so it is updated in place), the batch split over the
  mesh's `data` axis, the rng replicated. `compiles[stage]` counts its traces.

  With members > 1 it steps a population: states, batches and rngs carry a leading
  member axis, and `hparams` ({key: [members] values}, or None) the swept scalar.
  With `skip_nonfinite` a non-finite update is dropped (genlab.nonfinite.skipping).
  With steps_per_call = K > 1 one call runs K steps in a lax.scan: batches carry a
  steps axis (after the member axis) and every metric a leading [K] axis.
  """
  replicated = sharding.replicated(mesh)
  step = functools.partial(fns.train_step, stage=stage)
  if compiles is not None:
    step = _counted(step, compiles, stage)
  if skip_nonfinite:
    step = nonfinite.skipping(step)
  if steps_per_call > 1:
    step = _scanned(step)
  lead = int(steps_per_call > 1)  # the steps axis, before the batch rows
  if members == 1:
    return jax.jit(step, in_shardings=(replicated, sharding.batch_sharding(mesh, lead),
                                       replicated),
                   out_shardings=(replicated, replicated), donate_argnums=0)
  vmapped = jax.vmap(lambda s, b, r, hp: step(s, b, r, hparams=hp or None))
  if lead:  # metrics [members, K] -> [K, members], as the loop reads them
    vmapped = _steps_first(vmapped)
  split = sharding.batch_sharding(mesh, 1 + lead)
  return jax.jit(lambda s, b, r: vmapped(s, b, r, hparams or {}),
                 in_shardings=(replicated, split, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def _scanned(step):
  """`step` over a leading steps axis of the batch, in one lax.scan (the same rng, as
  the loop passes it to every step; each step folds in its own count)."""
  def steps(state, batches, rng, **kwargs):
    return jax.lax.scan(lambda s, b: step(s, b, rng, **kwargs), state, batches)
  return steps


def _steps_first(fn):
  def wrapped(*args):
    state, metrics = fn(*args)
    return state, jax.tree.map(lambda m: jnp.moveaxis(m, 1, 0), metrics)
  return wrapped


def _restore(ckpts: list, exps: list) -> list:
  """Each run's newest checkpoint, at a step they all have (a population killed between
  its members' saves resumes from the last step every member saved), else a fresh state."""
  limit = None
  while True:
    # A checkpoint holds the networks of its step's stage; restore reads it against them.
    states = [ckpt.restore(lambda step, e=e: e.abstract_state(e.state_stage(step)),
                          max_step=limit)
              for ckpt, e in zip(ckpts, exps)]
    steps = {0 if s is None else int(s.step) for s in states}
    if len(steps) == 1:
      return [e.init_state() if s is None else s for s, e in zip(states, exps)]
    limit = min(steps)


def _check_steps_per_call(per_call: int, fns, start: int) -> None:
  if per_call == 1:
    return
  if len(fns.stages) > 1:
    raise UserError(f"train.steps_per_call={per_call} needs a model trained in one stage; "
                    "this one grows in stages")
  if start % per_call:
    raise UserError(f"the run resumes at step {start}, not a multiple of "
                    f"train.steps_per_call={per_call}; resume with a steps_per_call "
                    f"that divides {start}")


def _kept(ckpts) -> str:
  steps = ckpts[0].all_steps()
  return f"the newest checkpoint (step {steps[-1]}) is kept" if steps else "no checkpoint saved"


def run(config: ml_collections.ConfigDict, workdir: str, *, feature_net=None,
        interrupt_at: int | None = None) -> dict:
  """Trains `config` in `workdir`, resuming from its newest checkpoint if any.

  Args:
    config: a locked experiment config.
    workdir: output directory (config.json, metrics.jsonl, tensorboard/, samples/,
      checkpoints/); a population's members each get a workdir inside it.
    feature_net: the dataset's FeatureNet (genlab.feature_nets.get), needed when the
      monitor scores image samples at each evaluation (`monitor.sample_scores`).
    interrupt_at: test hook; raise SimulatedInterrupt right after this step.
  Returns:
    {'step', 'compiles': {stage: traces}, 'test/...': final test means}; for a
    population, the test means of each member under 'members' {workdir: {...}}.
  """
  writes = sharding.is_writer()  # only process 0 writes files other than checkpoints
  group = population.members(config, workdir)  # [this run] or the population's members
  runs = group + ([population.Member(config, workdir)] if len(group) > 1 else [])
  for m in runs:
    experiment.check_config(m.config, m.workdir)
  exp = experiment.build(config)  # fails fast on bad names/data before touching workdir
  if len(group) > 1:
    population.check_supported(exp.fns, jax.process_count())
  with contextlib.ExitStack() as held:
    if writes:  # one run per workdir, checked before anything is written there
      for m in runs:
        held.enter_context(guards.WorkdirLock(m.workdir))
      for m in runs:
        experiment.write_or_check_config(m.config, m.workdir)
    signals = held.enter_context(guards.StopSignals())
    return _train(config, workdir, exp, group, signals, feature_net, interrupt_at)


def _train(config, workdir, exp, group, signals, feature_net, interrupt_at) -> dict:
  """run()'s loop, once the workdirs are locked and their configs written; with
  `train.on_nonfinite=rollback` it is restarted from the newest checkpoint after a
  non-finite step, at a lower learning rate (genlab.nonfinite)."""
  tc = config.train
  scale, rollbacks = None, 0
  while True:
    try:
      return _train_from_checkpoint(config, workdir, exp, group, signals, feature_net,
                                    interrupt_at, scale)
    except guards.NonFiniteError as e:
      if (nonfinite.policy(config) != "rollback" or e.lr_scale is None
          or rollbacks == tc.max_rollbacks):
        raise
      rollbacks += 1
      scale = e.lr_scale * tc.rollback_factor
      print(f"{e.cause}; rolling back to the newest checkpoint, learning rate × {scale:g} "
            f"(rollback {rollbacks} of {tc.max_rollbacks})", file=sys.stderr)


def _train_from_checkpoint(config, workdir, exp, group, signals, feature_net, interrupt_at,
                           scale) -> dict:
  """The loop from the newest checkpoint (or step 0); `scale`, when given, replaces the
  learning-rate scale of the restored optimizers (a rollback)."""
  writes = sharding.is_writer()
  k = len(group)
  hparams = population.hparams(config, group)  # the swept scalar's values, if any
  exps = [exp] if k == 1 else [exp.for_config(m.config, hparams is None) for m in group]
  tc, fns, mesh = config.train, exp.fns, exp.mesh
  rngs = [e.rngs() for e in exps]
  # The member axis: split(state) is every member's state, member(tree, i) member i's
  # part of host values; one run is its own member 0.
  split = (lambda tree: [tree]) if k == 1 else population.splitter(k)
  member = (lambda tree, i: tree) if k == 1 else population.member

  ckpts = [Checkpointer(f"{m.workdir}/checkpoints", tc.checkpoint_every, tc.keep_checkpoints)
           for m in group]
  states = _restore(ckpts, exps)
  if scale is not None:
    states = [nonfinite.with_lr_scale(s, scale) for s in states]
  scale = nonfinite.lr_scale(states[0])  # in effect until a rollback; None without one
  start = int(states[0].step)
  if start:
    print(f"resumed from step {start} in {workdir}", file=sys.stderr)
  state = states[0] if k == 1 else jax.device_put(population.stack(states),
                                                  sharding.replicated(mesh))
  train_rng = rngs[0]["train"] if k == 1 else jnp.stack([r["train"] for r in rngs])

  compiles: dict = {}
  policy = nonfinite.policy(config)
  per_call = guards.steps_per_call(config)
  _check_steps_per_call(per_call, fns, start)
  train_step = {s: jit_train_step(fns, s, mesh, compiles, k, hparams, policy == "skip",
                                  per_call) for s in fns.stages}
  # Members that differ in a swept scalar evaluate with their own value (their own fns).
  jitted = {id(e.fns): ({s: jax.jit(functools.partial(e.fns.eval_step, stage=s))
                         for s in fns.stages},
                        {s: jax.jit(functools.partial(e.fns.visualize, stage=s))
                         for s in fns.stages}) for e in exps}
  images_shown = exp.info["modality"] == "images"  # 2-D points get a scatter at evaluation
  n_shown = sharding.local_batch_size(sharding.round_up(32, mesh), mesh)
  shown = sharding.put_local_batch({k_: v[:n_shown] for k_, v in exp.test.items()}, mesh)

  writers = [MetricWriter(m.workdir, resume_step=start, active=writes) for m in group]
  # None when the family has no monitor
  monitors = [LoopMonitor.build(e, w, start, feature_net) for e, w in zip(exps, writers)]
  # Each process batches its own shard; the global batch is the processes' rows.
  local = sharding.local_batch_size(config.data.batch_size, mesh)
  # Item i is the input of call i (K steps' batches stacked when K > 1).
  if k == 1:
    batches = pipeline.Prefetcher(
        pipeline.calls(pipeline.train_batches(exp.train, local, config.seed), per_call),
        start // per_call,
        put=lambda b: sharding.put_local_batch(b, mesh, int(per_call > 1)))
  else:  # each member draws its own order, from its own seed
    batches = pipeline.Prefetcher(population.StackedBatches(
        [pipeline.calls(pipeline.train_batches(exp.train, local, m.config.seed), per_call)
         for m in group]),
        start // per_call)
  progress = Progress(start, tc.num_steps)
  log = IntervalLog(writers, monitors, progress, member, per_call, tc.log_every,
                    lambda message, retry: guards.NonFiniteError(
                        message, _kept(ckpts), scale if retry else None, policy))
  results: list = [{}] * k
  try:
    for step in range(start, tc.num_steps, per_call):
      stage = fns.stage_at(step)
      state, metrics = train_step[stage](state, next(batches), train_rng)
      log.flush()  # the previous logging step's, once this step is queued
      log.add(metrics)
      done = step + per_call
      faults.point(done, "step")
      state = faults.poison(done, state)
      last = done == tc.num_steps
      evaluating = done % tc.eval_every == 0 or last
      showing = images_shown and (done % tc.sample_every == 0 or last)
      saving = ckpts[0].due(done, force=last)
      stopping = signals.requested is not None and not last
      if done % tc.log_every == 0 or last:
        # One host sync per interval; deferred by a step unless this step acts on state.
        log.end(done, stage, wait=evaluating or showing or saving or stopping or last
                or done == interrupt_at)
      states = split(state) if evaluating or showing or saving else []
      # Evaluation and grids see the stage just trained, before any growth.
      for i, (e, member_state) in enumerate(zip(exps, states)):
        eval_fns, visualize = jitted[id(e.fns)]
        if evaluating:
          per_example = evaluate_split(eval_fns[stage], member_state, exp.test,
                                       config.data.eval_batch_size, rngs[i]["eval"], mesh)
          results[i] = means(per_example, "test")
          writers[i].scalars(done, results[i])
          if monitors[i]:
            monitors[i].evaluate(done, member_state)
        if showing:
          for name, images in sharding.gather(visualize[stage](member_state, shown)).items():
            writers[i].images(done, name, images, ncol=8)
      if not last and fns.stage_at(done) != stage:
        # Grown before the checkpoint, so a checkpoint at `done` holds the networks of
        # the stage its next step trains (what restore's template expects).
        # Placed like the rest of the state, so the next stage's step compiles once.
        state = jax.device_put(fns.grow(state, fns.stage_at(done)), sharding.replicated(mesh))
        states = split(state)
      if saving or stopping:
        states = states or split(state)  # a signal may come between evaluations
        if not guards.all_finite(states):  # never overwrite good checkpoints with NaNs
          raise guards.NonFiniteError(f"step {done}: the state went NaN or infinite; not saved",
                                      _kept(ckpts), scale, policy)
        for ckpt, member_state in zip(ckpts, states):
          ckpt.save(done, member_state, force=last or stopping)
        faults.point(done, "save")
      if stopping:
        raise signals.stopped(done, workdir)
      if interrupt_at is not None and done == interrupt_at:
        raise SimulatedInterrupt(f"interrupted after step {done}")
    if start >= tc.num_steps:
      print(f"nothing to train: {workdir} is already at step {start}", file=sys.stderr)
  finally:
    batches.close()
    for closable in ckpts + writers:
      closable.close()
  out = {"step": int(member(jax.device_get(state.step), 0)), "compiles": compiles}
  if k == 1:
    return {**out, **results[0]}
  return {**out, "members": {m.workdir: r for m, r in zip(group, results)}}
