"""What a run does when a loss, a gradient or the state goes NaN or infinite.

`config.train.on_nonfinite` picks the response:
  stop      (the default) stop within one logging interval, with a message naming the
            step and the metric; the newest checkpoint, always finite, is kept.
  skip      a step whose metrics or new state are not finite is dropped: the state stays
            as it was (only its step counter advances, so the data and the random
            streams move on) and `train/skipped` counts such steps per interval. An
            interval in which every step was dropped stops the run.
  rollback  restore the newest checkpoint and continue with every learning rate
            multiplied by `train.rollback_factor`, at most `train.max_rollbacks` times;
            metrics.jsonl drops the records past the restored step, as on any resume.
            The lowered rate is part of the optimizer state, so it is checkpointed and
            a resumed run keeps it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from genlab.errors import UserError

POLICIES = ("stop", "skip", "rollback")
# Config fields added after runs existed: a config.json without them had these values.
DEFAULTS = {"on_nonfinite": "stop", "rollback_factor": 0.5, "max_rollbacks": 3}
SKIPPED = "skipped"


def policy(config) -> str:
  return config.train.get("on_nonfinite", DEFAULTS["on_nonfinite"])


def validate(config) -> None:
  """One-line UserErrors for a policy no run can follow."""
  chosen = policy(config)
  if chosen not in POLICIES:
    raise UserError(f"train.on_nonfinite must be one of {', '.join(POLICIES)}, got {chosen!r}")
  factor = config.train.get("rollback_factor", DEFAULTS["rollback_factor"])
  if not 0 < factor < 1:
    raise UserError(f"train.rollback_factor must be in (0, 1), got {factor}")
  if config.train.get("max_rollbacks", DEFAULTS["max_rollbacks"]) < 1:
    raise UserError(f"train.max_rollbacks must be at least 1, got {config.train.max_rollbacks}")


def finite(tree) -> jax.Array:
  """Whether every float leaf of `tree` is finite, as a traced boolean."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def skipping(step):
  """`step` (state, batch, rng, **kw) -> (state, metrics), made to drop non-finite updates.

  The dropped step's metrics read 0 and `skipped` 1, so `interval_means` averages the
  kept steps only.
  """
  def wrapped(state, batch, rng, **kwargs):
    new, metrics = step(state, batch, rng, **kwargs)
    ok = jnp.logical_and(finite(metrics), finite(new))
    kept = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, state).replace(step=new.step)
    metrics = {k: jnp.where(ok, v, jnp.zeros_like(v)) for k, v in metrics.items()}
    metrics[SKIPPED] = 1.0 - ok.astype(jnp.float32)
    return kept, metrics
  return wrapped


def interval_means(pending: list[dict]) -> dict:
  """Host means of a logging interval's per-step metrics; with `skipped`, the means are
  over the kept steps and `skipped` is the number dropped."""
  stacked = {k: np.stack([np.asarray(m[k]) for m in pending]) for k in pending[0]}
  if SKIPPED not in stacked:
    return {k: v.mean(axis=0) for k, v in stacked.items()}
  skipped = stacked.pop(SKIPPED)
  kept = np.maximum(len(pending) - skipped.sum(axis=0), 1)
  return {**{k: v.sum(axis=0) / kept for k, v in stacked.items()}, SKIPPED: skipped.sum(axis=0)}


def scalable(tx: optax.GradientTransformation) -> optax.GradientTransformation:
  """`tx` followed by a scale kept in its state, which a rollback lowers."""
  return optax.chain(tx, optax.inject_hyperparams(optax.scale)(step_size=1.0))


def _is_scale(node) -> bool:
  # optax's inject_hyperparams state (its class name differs across optax versions).
  hyperparams = getattr(node, "hyperparams", None)
  return isinstance(node, tuple) and isinstance(hyperparams, dict) and "step_size" in hyperparams


def lr_scale(state) -> float | None:
  """The learning-rate scale in a (possibly stacked) state's optimizers, None without."""
  for node in jax.tree.leaves(state.opt_state, is_leaf=_is_scale):
    if _is_scale(node):
      return float(np.asarray(node.hyperparams["step_size"]).ravel()[0])
  return None


def with_lr_scale(state, value: float):
  """`state` with every optimizer's learning-rate scale set to `value`."""
  def put(node):
    if not _is_scale(node):
      return node
    old = node.hyperparams["step_size"]
    return node._replace(hyperparams={**node.hyperparams,
                                      "step_size": jnp.full_like(old, value)})
  return state.replace(opt_state=jax.tree.map(put, state.opt_state, is_leaf=_is_scale))
