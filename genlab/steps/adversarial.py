"""The adversarial step family: every GAN, one train step of n_critic D updates then one G update.

The model is a `genlab.models.gan.GAN`-like container with `generate(z, labels, train)`
and `discriminate(x, labels, train)`. The train state holds two networks, 'g' and 'd',
each with its own params, optimizer state (two time-scale updates: `gan.g_lr`,
`gan.d_lr`) and mutable collections (`model_state['g']`, `model_state['d']`, e.g.
batch_stats).

Choices, all from the `gan` config section:
  * `loss`: a genlab.losses.ADVERSARIAL_LOSSES name;
  * `pack` (PacGAN, Lin et al. 2018): D judges groups of `pack` samples joined along the
    last axis, [B, ..., C] -> [B/pack, ..., pack·C] (points [B, 2] -> [B/pack, 2·pack]),
    real groups all real, fake groups all fake; a group of fakes from one collapsed mode
    looks unlike a group of reals, so D can penalize missing diversity. The losses and
    both penalties see the groups (a penalty's "example" is a group); eval_step repeats
    each group's score over its members. 1 (the default) is the usual per-sample D;
    pack > 1 needs batch sizes divisible by it and an unconditional model;
  * `n_critic` D updates per step, each against fresh fakes but the SAME real batch:
    D keeps the full `data.batch_size` for any n_critic, and the pipeline's one batch
    per step (what makes resume exact) stays intact; the fakes, the half that moves,
    are redrawn every time. (WGAN draws a new real batch per critic update too.)
  * D regularizers: `gp_weight` (WGAN-GP), `r1_gamma` (R1, scaled by γ/2),
    `weight_clip` (WGAN: D params clipped to [−c, c] after every D update);
  * `aux_weights`: extra generator terms from AUX_G_LOSSES (Pix2Pix L1, CycleGAN cycle);
  * `augment` (DiffAugment, Zhao et al. 2020): a genlab.nn.augment policy such as
    "translation,cutout", applied with fresh randomness to the reals and the fakes
    that D sees, in both updates (G's gradient flows through it); '' is off;
  * `ema_decay` > 0: an EMA of G's params in `extra['g_ema']`, which evaluation and
    sample grids use.

Batch statistics: D's running averages are updated by D's own updates only (its
forward passes in the G update use batch statistics but their updates are dropped),
and G's by the G update only (fakes for D are drawn with G in train mode, as in the
usual PyTorch loop, without storing its statistics).
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from genlab import state as state_lib
from genlab.losses import (ADVERSARIAL_LOSSES, discriminator_accuracy, gradient_penalty,
                           r1_penalty)
from genlab.nn import augment as augment_lib
from genlab.registry import Registry
from genlab.steps.base import StepFns, apply_gradients, model_inputs

# fn(g_params, batch, fake, rng) -> scalar generator loss term.
AuxLoss = Callable[[Any, dict, jax.Array, jax.Array], jax.Array]
# Auxiliary generator losses by name: builders (model, config) -> AuxLoss, bound once
# per step family so a term can apply the model (a cycle loss runs G again). A term
# is on when `gan.aux_weights[name]` is non-zero; it is logged as 'aux_<name>'.
AUX_G_LOSSES: Registry[Callable[[Any, Any], AuxLoss]] = Registry("auxiliary generator loss")

# Train-state network name -> the container's submodule name.
_SUBMODULES = {"g": "generator", "d": "discriminator"}
_METHODS = {"g": "generate", "d": "discriminate"}


def make_optimizer(name: str, learning_rate: float, b1: float,
                   b2: float) -> optax.GradientTransformation:
  """One player's optimizer: 'adam' (b1, b2), 'rmsprop' (WGAN) or 'sgd'."""
  if name == "adam":
    return optax.adam(learning_rate, b1=b1, b2=b2)
  if name == "rmsprop":
    return optax.rmsprop(learning_rate)
  if name == "sgd":
    return optax.sgd(learning_rate)
  raise ValueError(f"unknown GAN optimizer {name!r}; known: adam, rmsprop, sgd")


def split_variables(variables: dict) -> tuple[dict, dict]:
  """The container's variables as ({'g': params, 'd': params}, {'g': cols, 'd': cols})."""
  params = {net: variables["params"][sub] for net, sub in _SUBMODULES.items()}
  model_state = {net: {col: tree[sub] for col, tree in variables.items()
                       if col != "params" and sub in tree}
                 for net, sub in _SUBMODULES.items()}
  return params, model_state


def pack_groups(x: jax.Array, pack: int) -> jax.Array:
  """PacGAN packing: [B, ..., C] -> [B/pack, ..., pack·C].

  Group i joins examples pack·i … pack·i + pack − 1 along the last axis, in that order.
  """
  if pack == 1:
    return x
  if x.shape[0] % pack:
    raise ValueError(f"a batch of {x.shape[0]} is not divisible by gan.pack={pack}")
  groups = jnp.moveaxis(x.reshape(x.shape[0] // pack, pack, *x.shape[1:]), 1, -2)
  return groups.reshape(*groups.shape[:-2], pack * x.shape[-1])


def make(model, config) -> StepFns:
  """Builds the adversarial StepFns for a GAN container `model` (see genlab.models.gan)."""
  cfg = config.gan
  adversarial = ADVERSARIAL_LOSSES.get(cfg.loss)
  txs = {"g": make_optimizer(cfg.g_optimizer, cfg.g_lr, cfg.b1, cfg.b2),
         "d": make_optimizer(cfg.d_optimizer, cfg.d_lr, cfg.b1, cfg.b2)}
  aux_losses = {name: AUX_G_LOSSES.get(name)(model, config)
                for name, weight in cfg.aux_weights.items() if weight}
  if cfg.n_critic < 1:
    raise ValueError(f"gan.n_critic must be at least 1, got {cfg.n_critic}")
  latent_size = config.model.latent_size
  conditional = config.model.get("conditional", False)
  pack = cfg.pack
  if pack < 1:
    raise ValueError(f"gan.pack must be at least 1, got {pack}")
  if pack > 1 and conditional:
    raise ValueError(f"gan.pack={pack} needs an unconditional model (a group has no one label)")
  for key in ("batch_size", "eval_batch_size"):
    if config.data[key] % pack:
      raise ValueError(f"data.{key}={config.data[key]} is not divisible by gan.pack={pack}")
  use_ema = cfg.ema_decay > 0
  augment = augment_lib.make(cfg.get("augment", ""))  # absent in workdirs made before it

  def apply(net, params, cols, x, labels, train):
    """G or D alone; returns (output, updated mutable collections)."""
    sub = _SUBMODULES[net]
    variables = {"params": {sub: params}, **{col: {sub: v} for col, v in cols.items()}}
    if not (train and cols):
      return model.apply(variables, x, labels, train, method=_METHODS[net]), cols
    out, updates = model.apply(variables, x, labels, train, method=_METHODS[net],
                               mutable=list(cols))
    return out, {col: updates[col][sub] for col in cols}

  def discriminate(d_params, d_cols, groups, labels, train):
    """D on packed groups [B/pack, ..., pack·C] -> (logits [B/pack], collections)."""
    return apply("d", d_params, d_cols, groups, labels, train)

  def labels_of(batch):
    return batch["label"] if conditional else None

  def latents(rng, n):
    return jax.random.normal(rng, (n, latent_size))

  def init(rng, batch):
    r_init, r_z = jax.random.split(rng)
    z, labels = latents(r_z, batch["image"].shape[0]), labels_of(batch)
    # G and D are initialized apart, so that D is built for packed groups. The params
    # equal one D(G(z)) pass's: Flax derives each submodule's keys from its name.
    g_vars = model.init(r_init, z, labels, method="generate")
    fake = model.apply(g_vars, z, labels, method="generate")
    d_vars = model.init(r_init, pack_groups(fake, pack), labels, method="discriminate")
    params, model_state = split_variables(
        {col: {**g_vars.get(col, {}), **d_vars.get(col, {})} for col in {*g_vars, *d_vars}})
    extra = {"g_ema": jax.tree.map(jnp.copy, params["g"])} if use_ema else {}
    opt_state = {net: txs[net].init(params[net]) for net in params}
    return state_lib.create(params, opt_state, model_state, extra)

  def d_loss_fn(d_params, d_cols, x, fake, labels, rng):
    # Keys folded from `rng` (not split) leave the penalties' draws as without augment.
    x = augment(jax.random.fold_in(rng, 1), x)
    fake = augment(jax.random.fold_in(rng, 2), fake)
    # D, its losses and its penalties see packed groups: below, an example is a group
    # of `pack` (one interpolation α and one gradient norm per group).
    x, fake = pack_groups(x, pack), pack_groups(fake, pack)
    # The penalties differentiate the D being trained (train mode; its statistics
    # updates dropped). They assume per-example outputs, i.e. no batch norm in D.
    critic = lambda v: discriminate(d_params, d_cols, v, labels, True)[0]
    real_logits, d_cols = discriminate(d_params, d_cols, x, labels, True)
    fake_logits, d_cols = discriminate(d_params, d_cols, fake, labels, True)
    d_loss = adversarial.d_loss(real_logits, fake_logits)
    loss = d_loss
    # 'd_loss' is the adversarial term alone, comparable with or without penalties.
    metrics = {"d_loss": d_loss,
               "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
               "d_accuracy": discriminator_accuracy(real_logits, fake_logits)}
    if cfg.gp_weight > 0:
      metrics["gp"] = gradient_penalty(critic, x, fake, rng)
      loss = loss + cfg.gp_weight * metrics["gp"]
    if cfg.r1_gamma > 0:
      metrics["r1"] = r1_penalty(critic, x)
      loss = loss + 0.5 * cfg.r1_gamma * metrics["r1"]
    return loss, (metrics, d_cols)

  def g_loss_fn(g_params, g_cols, d_params, d_cols, batch, labels, rng):
    r_z, r_aux = jax.random.split(rng)
    fake, g_cols = apply("g", g_params, g_cols, latents(r_z, batch["image"].shape[0]),
                         labels, True)
    seen = pack_groups(augment(jax.random.fold_in(r_z, 1), fake), pack)
    g_loss = adversarial.g_loss(discriminate(d_params, d_cols, seen, labels, True)[0])
    loss, metrics = g_loss, {"g_loss": g_loss}
    for i, (name, fn) in enumerate(sorted(aux_losses.items())):
      term = fn(g_params, batch, fake, jax.random.fold_in(r_aux, i))
      metrics[f"aux_{name}"] = term
      loss = loss + cfg.aux_weights[name] * term
    metrics["loss"] = loss  # the generator's whole objective (the progress bar's loss)
    return loss, (metrics, g_cols)

  def train_step(state, batch, rng, stage=0):
    del stage
    rng = jax.random.fold_in(rng, state.step)
    r_in, r_d, r_g = jax.random.split(rng, 3)
    x = model_inputs(batch, r_in, config.data.binarize)
    labels = labels_of(batch)
    g_params, g_cols = state.params["g"], state.model_state.get("g", {})

    def d_update(carry, i):
      d_params, d_opt, d_cols = carry
      r_z, r_pen = jax.random.split(jax.random.fold_in(r_d, i))
      fake, _ = apply("g", g_params, g_cols, latents(r_z, x.shape[0]), labels, True)
      grads, (metrics, d_cols) = jax.grad(d_loss_fn, has_aux=True)(
          d_params, d_cols, x, jax.lax.stop_gradient(fake), labels, r_pen)
      d_params, d_opt, norms = apply_gradients(txs["d"], d_params, d_opt, grads)
      if cfg.weight_clip > 0:
        d_params = jax.tree.map(lambda p: jnp.clip(p, -cfg.weight_clip, cfg.weight_clip),
                                d_params)
      return (d_params, d_opt, d_cols), {**metrics, **{f"d_{k}": v for k, v in norms.items()}}

    # A Python loop, not lax.scan: XLA:CPU runs convolutions inside a while loop (which
    # even a fully unrolled scan keeps) ~75× slower than outside one (measured: 1,048 vs
    # 14 ms for the gradient of a 64 -> 128 channel conv).
    carry = (state.params["d"], state.opt_state["d"], state.model_state.get("d", {}))
    per_update = []
    for i in range(cfg.n_critic):
      carry, metrics = d_update(carry, i)
      per_update.append(metrics)
    d_params, d_opt, d_cols = carry
    # Averaged over the n_critic updates.
    d_metrics = jax.tree.map(lambda *v: jnp.mean(jnp.stack(v)), *per_update)

    grads, (g_metrics, g_cols) = jax.grad(g_loss_fn, has_aux=True)(
        g_params, g_cols, d_params, d_cols, batch, labels, r_g)
    g_params, g_opt, norms = apply_gradients(txs["g"], g_params, state.opt_state["g"], grads)
    extra = dict(state.extra)
    if use_ema:
      extra["g_ema"] = jax.tree.map(lambda e, p: cfg.ema_decay * e + (1 - cfg.ema_decay) * p,
                                    state.extra["g_ema"], g_params)
    model_state = dict(state.model_state)
    if g_cols:
      model_state["g"] = g_cols
    if d_cols:
      model_state["d"] = d_cols
    new_state = state.replace(step=state.step + 1, params={"g": g_params, "d": d_params},
                              opt_state={"g": g_opt, "d": d_opt}, model_state=model_state,
                              extra=extra)
    return new_state, {**d_metrics, **g_metrics, **{f"g_{k}": v for k, v in norms.items()}}

  def sampling_params(state):
    return state.extra["g_ema"] if use_ema else state.params["g"]

  def generate(state, z, labels):
    return apply("g", sampling_params(state), state.model_state.get("g", {}), z, labels, False)[0]

  def eval_step(state, batch, rng):
    """Per-example discriminator scores, each [B].

    Example i gives D's probabilities for x_i ('d_real') and for G(z_i, label_i)
    ('d_fake'), and as 'loss' D's cross-entropy on that pair, −log D(x_i) −
    log(1 − D(G(z_i))). Both networks run in inference mode (running batch
    statistics, the EMA generator when on). With `gan.pack` > 1, D scores groups of
    `pack` consecutive reals (fakes), and each member gets its group's score.
    """
    r_in, r_z = jax.random.split(rng)
    x = model_inputs(batch, r_in, config.data.binarize)
    labels = labels_of(batch)
    d_params, d_cols = state.params["d"], state.model_state.get("d", {})
    fake = generate(state, latents(r_z, x.shape[0]), labels)
    def logits(v):  # [B]: each example gets its group's logit
      groups = pack_groups(v, pack)
      return jnp.repeat(discriminate(d_params, d_cols, groups, labels, False)[0], pack, axis=0)

    real_logits, fake_logits = logits(x), logits(fake)
    return {"d_real": jax.nn.sigmoid(real_logits), "d_fake": jax.nn.sigmoid(fake_logits),
            "loss": -jax.nn.log_sigmoid(real_logits) - jax.nn.log_sigmoid(-fake_logits)}

  def visualize(state, batch):
    """{'samples': G(z)} for one fixed z (key 0) per shown example; {} for 2-D points."""
    if batch["image"].ndim != 4:
      return {}
    z = latents(jax.random.key(0), batch["image"].shape[0])
    return {"samples": generate(state, z, labels_of(batch))}

  return StepFns(init=init, train_step=train_step, eval_step=eval_step, visualize=visualize)
