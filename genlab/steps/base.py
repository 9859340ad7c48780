"""What every step family provides to the one training loop."""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from genlab.data import transforms
from genlab.errors import UserError
from genlab.state import TrainState

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class StepFns:
  """Pure functions the loop jit-compiles, once per stage; none touches the host.

  Attributes:
    init: (rng, batch, stage) -> TrainState with the networks of `stage`.
    train_step: (state, batch, rng, stage) -> (state, scalar metrics). `rng` is the
      run's base key; the step folds in `state.step` so a resumed run continues
      the same stream. `stage` is static (one compile per stage).
    eval_step: (state, batch, rng, stage) -> per-example metrics, each of shape [B].
    visualize: (state, batch, stage) -> {name: images in [0, 1], NHWC} for sample grids.
    stage_at: step -> stage, for staged training (greedy pre-training, ProGAN).
    stages: every stage `stage_at` can return.
    grow: (state, stage) -> the state with the networks of `stage`, called when
      training enters `stage` (networks that grow between stages); identity by default.
    generate: (state, z, condition) -> samples in inference mode, for families whose
      networks sample from a prior (see `sampler`); None otherwise.
    sampler: the genlab.sampler.Sampler of `generate`'s inputs, or None.
    translate: (state, batch, rng) -> {direction: images} in inference mode, for
      families that translate their inputs; None otherwise.
    translations: {direction: the batch field whose real images its outputs are
      scored against}.
    source_labels: {direction: the batch field of its sources' classes}.
  """

  init: Callable[..., TrainState]
  train_step: Callable[..., tuple[TrainState, Metrics]]
  eval_step: Callable[..., Metrics]
  visualize: Callable[..., dict[str, jax.Array]]
  stage_at: Callable[[int], int] = lambda step: 0
  stages: tuple[int, ...] = (0,)
  grow: Callable[[TrainState, int], TrainState] = lambda state, stage: state
  generate: Callable[..., jax.Array] | None = None
  sampler: Any = None
  translate: Callable[..., dict] | None = None
  translations: dict = dataclasses.field(default_factory=dict)
  source_labels: dict = dataclasses.field(default_factory=dict)

  def state_stage(self, step: int, num_steps: int) -> int:
    """The stage whose networks a state at `step` holds: training grows them on
    entering a stage, so a checkpoint at `step` is shaped by the stage of the next
    step to run (the last one's, once training is over)."""
    return self.stage_at(min(step, max(num_steps - 1, 0)))


def to_unit_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [0, 1]: genlab's one pixel convention at model inputs.

  Float inputs (the 2-D points of the toy sets) are already model inputs and pass through.
  """
  if images.dtype != jnp.uint8:
    return images.astype(jnp.float32)
  return images.astype(jnp.float32) / 255.0


def model_inputs(batch: Batch, rng: jax.Array, binarize: bool) -> jax.Array:
  """Batch images as model inputs: [0, 1] floats, dynamically binarized if asked."""
  x = to_unit_float(batch["image"])
  return transforms.binarize(rng, x) if binarize else x


def apply_gradients(tx: optax.GradientTransformation, params: Any, opt_state: Any,
                    grads: Any, prefix: str = "", lr_scale=None) -> tuple[Any, Any, Metrics]:
  """One optimizer update, with the norms the loop logs.

  `lr_scale` (see `Hparams.lr_scale`) multiplies the update: a traced learning rate.

  Returns:
    (new_params, new_opt_state, {prefix+'grad_norm', 'param_norm', 'update_norm'}).
  """
  updates, opt_state = tx.update(grads, opt_state, params)
  if lr_scale is not None:
    updates = jax.tree.map(lambda u: u * lr_scale, updates)
  params = optax.apply_updates(params, updates)
  metrics = {f"{prefix}grad_norm": optax.global_norm(grads),
             f"{prefix}param_norm": optax.global_norm(params),
             f"{prefix}update_norm": optax.global_norm(updates)}
  return params, opt_state, metrics


def update_network(tx: optax.GradientTransformation, state: TrainState, name: str, grads: Any,
                   lr_scale=None, **changes) -> tuple[TrainState, Metrics]:
  """One optimizer update of network `name` and the step counter (single-network families).

  Returns:
    (the new state, with any other fields in `changes` replaced; the update's norms).
  """
  params, opt_state, norms = apply_gradients(
      tx, state.params[name], state.opt_state[name], grads, lr_scale=lr_scale)
  new_state = state.replace(step=state.step + 1, params={**state.params, name: params},
                            opt_state={**state.opt_state, name: opt_state}, **changes)
  return new_state, norms


def regrow_opt_state(tx: optax.GradientTransformation, old_state: Any, new_params: Any) -> Any:
  """The optimizer state for params that grew: `tx.init(new_params)` with every leaf
  that existed before (same path and shape: moments, step counts) carried over, so
  the networks that were there keep their optimizer history and new ones start fresh."""
  old = {path: leaf for path, leaf in jax.tree_util.tree_flatten_with_path(old_state)[0]}

  def carry(path, leaf):
    kept = old.get(path)
    return kept if kept is not None and jnp.shape(kept) == jnp.shape(leaf) else leaf

  return jax.tree_util.tree_map_with_path(carry, tx.init(new_params))


class Hparams:
  """The config scalars a sweep or a population varies, readable as traced values.

  A train step takes `hparams={'optim.learning_rate': x, 'vae.beta': y, ...}` of
  (traced) scalars; a step reads each scalar through `hp(path)`, which returns the
  traced value when given and the config's Python float otherwise, so a run without
  hparams compiles exactly as before. Learning rates enter as a scale on the
  optimizer's update (`lr_scale`): every optimizer and schedule here is linear in
  its base learning rate, so scaling the update by x / lr is a run at lr = x.
  Keys a step does not read are refused, so a sweep never varies nothing.
  """

  def __init__(self, config, traced: dict | None, known: tuple[str, ...]):
    self._config, self._traced = config, dict(traced or {})
    unknown = sorted(set(self._traced) - set(known))
    if unknown:
      raise UserError(f"hparams {', '.join(unknown)} are not read by this step; "
                      f"traceable: {', '.join(sorted(known))}")

  def __call__(self, path: str):
    return self._traced[path] if path in self._traced else self._node(path)

  def lr_scale(self, section: str):
    """x / lr for a traced `<section>.learning_rate` = x, else None (no scaling)."""
    key = f"{section}.learning_rate"
    if key not in self._traced:
      return None
    base = self._node(key)
    if base == 0:
      raise UserError(f"{key} is 0 in the config: a traced learning rate scales it")
    return self._traced[key] / base

  def _node(self, path: str):
    node = self._config
    for part in path.split("."):
      node = node[part]
    return node
