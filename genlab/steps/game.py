"""An adversarial game over any number of named players, as one set of step functions.

A game is data: its players in update order, each with a loss over EVERY player's
parameters, and the functions that prepare a batch, initialize the networks, evaluate
and draw sample grids. The train state holds the players by name:

  params[name], opt_state[name]    the network and its optimizer (built by
                                   `genlab.optim` from `optim.<name>`);
  model_state[name]                its mutable collections (batch statistics), updated
                                   by its own updates only;
  extra['ema'][name]               {'params', 'cols'}: an EMA copy of the network, when
                                   the player has `ema_decay` > 0, with collections of
                                   its own (see Player.ema_statistics).

Neither the loop nor the checkpoint learns how many players there are.

One train step: for each player in order, `updates` gradient steps on its loss (D:
`n_critic` times, then G), each seeing the others' newest parameters. Metrics are the
losses' own (averaged over a player's updates) plus each player's gradient, parameter
and update norms (`<player>_grad_norm`, ...); 'loss' is the one a game names, else
the players' `<player>_loss` summed. The step's rng
is split into one key for the batch and one per player; update i of a player gets
the player's key and i, so a loss derives its draws from (key, i); the EMA's own
forward pass gets (key, `updates`).
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from genlab import nonfinite, optim, state as state_lib
from genlab.steps.base import Hparams, StepFns, apply_gradients, regrow_opt_state

# (params: {name: tree}, cols: {name: collections}, inputs, rng, i)
#   -> (loss, (metrics, the player's own updated collections))
PlayerLoss = Callable[[dict, dict, Any, jax.Array, int], tuple[jax.Array, tuple[dict, dict]]]


@dataclasses.dataclass(frozen=True)
class Player:
  """One network of a game.

  Attributes:
    name: the network's name in the train state and its `optim.<name>` section.
    loss: its PlayerLoss (minimized with respect to its own parameters).
    updates: gradient steps per train step (a critic's n_critic).
    ema_decay: > 0 keeps an EMA copy of the params for evaluation.
    ema_warmup: the decay at step t is min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's
      ExponentialMovingAverage with num_updates), so the copy follows the network early
      on. A constant 0.999 keeps 0.999^1500 = 22 % of the initial weights after 1,500
      steps, which is a whole CPU-sized run.
    weight_clip: > 0 clips the params to [−c, c] after every update (WGAN's critic).
    ema_statistics: (ema_params, ema_cols, inputs, rng) -> ema_cols: the network with
      the EMA's params run once in train mode on inputs of its own; its collections
      (batch statistics) are then running averages of the EMA network's own
      activations, which is what it is evaluated with. Without it the EMA copy keeps
      the EMA of the trained network's collections, statistics of other weights.
  """

  name: str
  loss: PlayerLoss
  updates: int = 1
  ema_decay: float = 0.0
  ema_warmup: bool = False
  weight_clip: float = 0.0
  ema_statistics: Callable[[Any, dict, Any, jax.Array], dict] | None = None


@dataclasses.dataclass(frozen=True)
class Staging:
  """How a game's networks grow between stages (ProGAN); see `Game.staging`.

  Attributes:
    stages: every stage, in training order.
    stage_at: step (a Python int) -> the stage that trains it.
    alpha: (step, stage) -> the fade-in in [0, 1] of the stage's newest layers; `step`
      may be traced (it is the state's step inside a jitted function).
    stage_of: ({player: params}) -> the stage those networks are shaped for (read off
      the tree's structure, so it is a Python int even under jit).
    grow: ({player: params}, stage) -> the same networks grown to `stage`: new layers
      initialized (the same values at every call), the old ones kept.
  """

  stages: tuple[int, ...]
  stage_at: Callable[[int], int]
  alpha: Callable[[Any, int], Any]
  stage_of: Callable[[dict], int]
  grow: Callable[[dict, int], dict]


@dataclasses.dataclass(frozen=True)
class Game:
  """What a game declares; `make_step_fns` turns it into the loop's StepFns.

  Attributes:
    players: in update order.
    prepare: (batch, rng) -> inputs every loss of the step sees (pixels scaled on the
      device, labels, conditions); runs once per step.
    init: (rng, batch) -> ({name: params}, {name: collections}).
    eval_step: (nets, batch, rng) -> per-example metrics [B]; `nets` holds each
      player's inference variables (see `inference`).
    visualize: (nets, batch) -> {name: images in [0, 1]} for the sample grids.
    generate: (nets, z, condition) -> samples, for games that sample from a prior
      (None when a game only translates its inputs).
    sampler: the genlab.sampler.Sampler of `generate`'s inputs.
    translate: (nets, batch, rng) -> {direction: images in [0, 1]}, for games that
      translate their inputs (Pix2Pix, CycleGAN; `rng` for a generator's own noise, such
      as Pix2Pix's test-time dropout); None otherwise.
    translations: {direction: the batch field its outputs should look like}; evaluation
      scores each direction's outputs against that field's real images.
    source_labels: {direction: the batch field of its sources' classes}; evaluation
      reports how often the target domain's classifier keeps that class.
    hparams: config paths of the loss weights the losses read through `inputs['hp']`
      (a genlab.steps.base.Hparams), so a sweep can pass them traced; every player's
      `optim.<name>.learning_rate` is traceable too.
    staging: for networks that grow (a Staging), else None. Then `init` takes the
      keyword `stage`, and `prepare`, `eval_step`, `visualize` and `generate` take
      `stage` (a Python int) and `alpha` (its fade-in at the state's step, traced). The
      players' networks have no collections then (growing them is not defined).
  """

  players: tuple[Player, ...]
  prepare: Callable[[dict, jax.Array], Any]
  init: Callable[[jax.Array, dict], tuple[dict, dict]]
  eval_step: Callable[[dict, dict, jax.Array], dict]
  visualize: Callable[[dict, dict], dict]
  generate: Callable[[dict, Any, Any], jax.Array] | None = None
  sampler: Any = None
  translate: Callable[[dict, dict], dict] | None = None
  translations: dict[str, str] = dataclasses.field(default_factory=dict)
  source_labels: dict[str, str] = dataclasses.field(default_factory=dict)
  hparams: tuple[str, ...] = ()
  staging: Staging | None = None


def inference(state) -> dict:
  """{name: (params, collections)} for evaluation and sampling: a player's EMA copy
  (with the EMA's own collections) when it keeps one, else its trained network."""
  ema = state.extra.get("ema", {})
  return {name: (ema[name]["params"], ema[name]["cols"]) if name in ema
          else (params, state.model_state.get(name, {}))
          for name, params in state.params.items()}


def _ema(decay: float, old, new):
  return jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, old, new)


def make_step_fns(game: Game, config) -> StepFns:
  """The loop's StepFns for `game`; each player's optimizer from `optim.<name>`."""
  names = [p.name for p in game.players]
  if len(set(names)) != len(names):
    raise ValueError(f"a game's players need distinct names, got {names}")
  txs = {p.name: optim.make_optimizer(optim.section(config, p.name),
                                      config.train.num_steps * p.updates,
                                      rollback=nonfinite.policy(config) == "rollback")
         for p in game.players}
  staging = game.staging

  def at(params, step):
    """The keywords a staged game's callbacks take: the stage the networks are shaped
    for, and its fade-in at `step`."""
    if staging is None:
      return {}
    stage = staging.stage_of(params)
    return {"stage": stage, "alpha": staging.alpha(step, stage)}

  def init(rng, batch, stage=0):
    params, cols = game.init(rng, batch, **({"stage": stage} if staging else {}))
    ema = {p.name: {"params": jax.tree.map(jnp.copy, params[p.name]),
                    "cols": jax.tree.map(jnp.copy, cols.get(p.name, {}))}
           for p in game.players if p.ema_decay > 0}
    opt_state = {name: txs[name].init(params[name]) for name in names}
    return state_lib.create(params, opt_state, {k: v for k, v in cols.items() if v},
                            {"ema": ema} if ema else {})

  traceable = (*game.hparams, *(f"optim.{n}.learning_rate" for n in names))

  def update(player, params, cols, opt_state, inputs, rng, i, hp):
    """One gradient step of `player`; returns its new params, collections, opt state."""
    def loss_of(own):
      return player.loss({**params, player.name: own}, cols, inputs, rng, i)

    grads, (metrics, own_cols) = jax.grad(loss_of, has_aux=True)(params[player.name])
    new, opt, norms = apply_gradients(txs[player.name], params[player.name], opt_state, grads,
                                      lr_scale=hp.lr_scale(f"optim.{player.name}"))
    if player.weight_clip > 0:
      new = jax.tree.map(lambda p: jnp.clip(p, -player.weight_clip, player.weight_clip), new)
    metrics = {**metrics, **{f"{player.name}_{k}": v for k, v in norms.items()}}
    return new, own_cols, opt, metrics

  def train_step(state, batch, rng, stage=0, hparams=None):
    del stage  # the networks' own shape says it (`at`)
    hp = Hparams(config, hparams, traceable)
    rng = jax.random.fold_in(rng, state.step)
    r_in, *keys = jax.random.split(rng, 1 + len(game.players))
    inputs = {**game.prepare(batch, r_in, **at(state.params, state.step)), "hp": hp}
    params, cols = dict(state.params), dict(state.model_state)
    opt_state, ema = dict(state.opt_state), dict(state.extra.get("ema", {}))
    metrics = {}
    for player, key in zip(game.players, keys):
      per_update = []
      # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop
      # (which even a fully unrolled scan keeps) ~75× slower than outside one
      # (measured: 1,048 vs 14 ms for the gradient of a 64 -> 128 channel conv).
      for i in range(player.updates):
        new, own_cols, opt_state[player.name], m = update(
            player, params, cols, opt_state[player.name], inputs, key, i, hp)
        params[player.name] = new
        if own_cols:
          cols[player.name] = own_cols
        per_update.append(m)
      metrics.update(jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *per_update))
      if player.ema_decay > 0:
        old, decay = ema[player.name], player.ema_decay
        if player.ema_warmup:
          decay = jnp.minimum(decay, (1.0 + state.step) / (10.0 + state.step))
        ema_params = _ema(decay, old["params"], params[player.name])
        if not old["cols"]:
          ema_cols = old["cols"]
        elif player.ema_statistics is not None:
          ema_cols = player.ema_statistics(ema_params, old["cols"], inputs,
                                           jax.random.fold_in(key, player.updates))
        else:
          ema_cols = _ema(decay, old["cols"], cols.get(player.name, {}))
        ema[player.name] = {"params": ema_params, "cols": ema_cols}
    if "loss" not in metrics:  # the progress bar's loss: the players' losses summed
      metrics["loss"] = sum(metrics[f"{p.name}_loss"] for p in game.players
                            if f"{p.name}_loss" in metrics)
    extra = {**state.extra, "ema": ema} if ema else state.extra
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              model_state=cols, extra=extra)
    return new_state, metrics

  def eval_step(state, batch, rng, stage=0):
    del stage
    return game.eval_step(inference(state), batch, rng, **at(state.params, state.step))

  def visualize(state, batch, stage=0):
    del stage
    return game.visualize(inference(state), batch, **at(state.params, state.step))

  generate = None
  if game.generate is not None:
    generate = lambda state, z, cond: game.generate(inference(state), z, cond,
                                                    **at(state.params, state.step))
  translate = None
  if game.translate is not None:
    translate = lambda state, batch, rng: game.translate(inference(state), batch, rng)
  staged = {}
  if staging is not None:
    def grow(state, stage):
      """The state with every player grown to `stage`: new layers at their init (in the
      EMA copies too), optimizer moments kept for the layers that were there."""
      params = staging.grow(state.params, stage)
      opt_state = {n: regrow_opt_state(txs[n], state.opt_state[n], params[n]) for n in names}
      extra = state.extra
      if "ema" in extra:
        grown = staging.grow({n: e["params"] for n, e in extra["ema"].items()}, stage)
        extra = {**extra, "ema": {n: {"params": grown[n], "cols": e["cols"]}
                                  for n, e in extra["ema"].items()}}
      return state.replace(params=params, opt_state=opt_state, extra=extra)

    staged = dict(stages=tuple(staging.stages), stage_at=staging.stage_at, grow=grow)
  return StepFns(init=init, train_step=train_step, eval_step=eval_step, visualize=visualize,
                 generate=generate, sampler=game.sampler, translate=translate,
                 translations=dict(game.translations),
                 source_labels=dict(game.source_labels), **staged)
