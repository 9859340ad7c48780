"""The 'gan' game of the adversarial step family: G and D, for the MLP GAN, DCGAN,
cGAN and WGAN(-GP). Every GAN is a game (genlab.steps.game) of named players;
`gan.game` picks it from `genlab.families.GAMES` ('gan', or 'cycle': genlab.steps.cycle).

The 'gan' game. The model is a `genlab.models.gan.GAN`-like container with
`generate(z, condition, train)` and `discriminate(x, condition, train)`; its
submodules 'generator' and 'discriminator' become the players 'g' and 'd', each with
its own params, optimizer (`optim.g`, `optim.d`: two time-scale updates) and mutable
collections (batch statistics). G's inputs come from the one sampler
(genlab.sampler: prior and condition). Choices, from the `gan` config section:
  * `loss`: a genlab.losses.ADVERSARIAL_LOSSES name;
  * `pack` (PacGAN, Lin et al. 2018): D judges groups of `pack` samples joined along the
    last axis, [B, ..., C] -> [B/pack, ..., pack·C]; real groups all real, fake groups
    all fake. The losses and both penalties see the groups; eval_step repeats each
    group's score over its members. pack > 1 needs an unconditional model;
  * `n_critic` D updates per step, each against fresh fakes but the SAME real batch (the
    pipeline's one batch per step, which makes resume exact, stays intact);
  * D regularizers: `gp_weight` (WGAN-GP), `r1_gamma` (R1, scaled by γ/2),
    `weight_clip` (WGAN: D params clipped to [−c, c] after every D update);
  * `aux_weights`: extra generator terms from AUX_G_LOSSES, which see every player's
    params;
  * `augment` (DiffAugment): a genlab.nn.augment policy applied with fresh randomness to
    the reals and fakes that D sees, in both updates; '' is off;
  * `ema_decay` > 0: an EMA copy of G that evaluation, sampling and sample grids use.
    Its batch statistics are its own: running averages of the EMA G's activations on
    one extra batch of sampling-time latents per step (the "standing statistics" of
    Brock et al. 2019, kept current), not of the trained G's, whose weights differ.

Batch statistics: D's running averages move with D's own updates only (its forward
passes in G's update use batch statistics, their updates dropped), G's with G's update
only (fakes for D are drawn with G in train mode without storing its statistics).
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from genlab import sampler as sampler_lib
from genlab.errors import UserError
from genlab.losses import (ADVERSARIAL_LOSSES, discriminator_accuracy, gradient_penalty,
                           r1_penalty)
from genlab.losses.orthogonal import orthogonal_penalty
from genlab.nn import augment as augment_lib
from genlab.registry import Registry
from genlab.steps import game as game_lib
from genlab.steps.base import model_inputs

# fn(params: {player: tree}, batch, fake, rng) -> scalar generator loss term.
AuxLoss = Callable[[dict, dict, jax.Array, jax.Array], jax.Array]
# Auxiliary generator losses by name: builders (model, config) -> AuxLoss, bound once
# per step family so a term can apply the model. A term is on when
# `gan.aux_weights[name]` is non-zero; it is logged as 'aux_<name>'.
AUX_G_LOSSES: Registry[Callable[[Any, Any], AuxLoss]] = Registry("auxiliary generator loss")


def _orthogonal(model, config) -> AuxLoss:
  """BigGAN's orthogonal regularization of G's kernels (genlab.losses.orthogonal)."""
  del model, config
  return lambda params, batch, fake, rng: orthogonal_penalty(params["g"])


AUX_G_LOSSES.register("orthogonal", _orthogonal)

# Player -> the container's (submodule, method).
NETWORKS = {"g": ("generator", "generate"), "d": ("discriminator", "discriminate")}


def apply_network(model, submodule: str, method: str, params, cols, *args, train: bool):
  """One network of a container alone; returns (output, its updated collections).

  Collections are updated only in train mode; otherwise `cols` come back as given.
  """
  variables = {"params": {submodule: params}, **{c: {submodule: v} for c, v in cols.items()}}
  if not (train and cols):
    return model.apply(variables, *args, train, method=method), cols
  out, updates = model.apply(variables, *args, train, method=method, mutable=list(cols))
  return out, {c: updates[c][submodule] for c in cols}


def split_variables(variables: dict, networks: dict = NETWORKS) -> tuple[dict, dict]:
  """A container's variables as ({player: params}, {player: collections})."""
  params = {net: variables["params"][sub] for net, (sub, _) in networks.items()}
  cols = {net: {col: tree[sub] for col, tree in variables.items()
                if col != "params" and sub in tree}
          for net, (sub, _) in networks.items()}
  return params, cols


def pack_groups(x: jax.Array, pack: int) -> jax.Array:
  """PacGAN packing: [B, ..., C] -> [B/pack, ..., pack·C].

  Group i joins examples pack·i … pack·i + pack − 1 along the last axis, in that order.
  """
  if pack == 1:
    return x
  if x.shape[0] % pack:
    raise UserError(f"a batch of {x.shape[0]} is not divisible by gan.pack={pack}")
  groups = jnp.moveaxis(x.reshape(x.shape[0] // pack, pack, *x.shape[1:]), 1, -2)
  return groups.reshape(*groups.shape[:-2], pack * x.shape[-1])


def per_example(loss_fn, *logits):
  """A batch-mean loss as per-example values [B] whose mean is the batch loss."""
  return jax.vmap(lambda *l: loss_fn(*(v[None] for v in l)))(*logits)


def _check(config, sampler):
  cfg = config.gan
  if cfg.n_critic < 1:
    raise UserError(f"gan.n_critic must be at least 1, got {cfg.n_critic}")
  if cfg.pack < 1:
    raise UserError(f"gan.pack must be at least 1, got {cfg.pack}")
  if cfg.pack > 1 and sampler.condition != "none":
    raise UserError(f"gan.pack={cfg.pack} needs an unconditional model "
                    "(a group has no one condition)")
  for key in ("batch_size", "eval_batch_size"):
    if config.data[key] % cfg.pack:
      raise UserError(f"data.{key}={config.data[key]} is not divisible by "
                      f"gan.pack={cfg.pack}")


def gan_game(model, config, info) -> game_lib.Game:
  """The two-player game of G and D (module docstring)."""
  cfg = config.gan
  sampler = sampler_lib.from_config(config, info)
  _check(config, sampler)
  adversarial = ADVERSARIAL_LOSSES.get(cfg.loss)
  aux_losses = {name: AUX_G_LOSSES.get(name)(model, config)
                for name, weight in cfg.aux_weights.items() if weight}
  pack = cfg.pack
  augment = augment_lib.make(cfg.get("augment", ""))  # absent in workdirs made before it

  def apply(net, params, cols, x, cond, train):
    sub, method = NETWORKS[net]
    return apply_network(model, sub, method, params, cols, x, cond, train=train)

  def discriminate(params, cols, groups, cond, train):
    """D on packed groups [B/pack, ..., pack·C] -> (logits [B/pack], collections)."""
    return apply("d", params["d"], cols.get("d", {}), groups, cond, train)

  def prepare(batch, rng):
    return {"x": model_inputs(batch, rng, config.data.binarize),
            "cond": sampler.condition_of(batch), "batch": batch}

  def init(rng, batch):
    r_init, r_z = jax.random.split(rng)
    z, cond = sampler.latents(r_z, batch["image"].shape[0]), sampler.condition_of(batch)
    # G and D are initialized apart, so that D is built for packed groups. The params
    # equal one D(G(z)) pass's: Flax derives each submodule's keys from its name.
    g_vars = model.init(r_init, z, cond, method="generate")
    fake = model.apply(g_vars, z, cond, method="generate")
    d_vars = model.init(r_init, pack_groups(fake, pack), cond, method="discriminate")
    return split_variables(
        {col: {**g_vars.get(col, {}), **d_vars.get(col, {})} for col in {*g_vars, *d_vars}})

  def d_loss(params, cols, inputs, rng, i):
    x, cond = inputs["x"], inputs["cond"]
    r_z, rng = jax.random.split(jax.random.fold_in(rng, i))
    fake, _ = apply("g", params["g"], cols.get("g", {}), sampler.latents(r_z, x.shape[0]),
                    cond, True)
    # Keys folded from `rng` (not split) leave the penalties' draws as without augment.
    x = augment(jax.random.fold_in(rng, 1), x)
    fake = augment(jax.random.fold_in(rng, 2), fake)
    # D, its losses and its penalties see packed groups: below, an example is a group
    # of `pack` (one interpolation α and one gradient norm per group).
    x, fake = pack_groups(x, pack), pack_groups(fake, pack)
    # The penalties differentiate the D being trained (train mode; its statistics
    # updates dropped). They assume per-example outputs, i.e. no batch norm in D.
    critic = lambda v: discriminate(params, cols, v, cond, True)[0]
    real_logits, d_cols = discriminate(params, cols, x, cond, True)
    fake_logits, d_cols = discriminate(params, {**cols, "d": d_cols}, fake, cond, True)
    adv = adversarial.d_loss(real_logits, fake_logits)
    loss = adv
    # 'd_loss' is the adversarial term alone, comparable with or without penalties.
    metrics = {"d_loss": adv,
               "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
               "d_accuracy": discriminator_accuracy(real_logits, fake_logits)}
    hp = inputs["hp"]
    if cfg.gp_weight > 0:
      metrics["gp"] = gradient_penalty(critic, x, fake, rng)
      loss = loss + hp("gan.gp_weight") * metrics["gp"]
    if cfg.r1_gamma > 0:
      metrics["r1"] = r1_penalty(critic, x)
      loss = loss + 0.5 * hp("gan.r1_gamma") * metrics["r1"]
    return loss, (metrics, d_cols)

  def g_loss(params, cols, inputs, rng, i):
    del i
    cond, batch = inputs["cond"], inputs["batch"]
    r_z, r_aux = jax.random.split(rng)
    fake, g_cols = apply("g", params["g"], cols.get("g", {}),
                         sampler.latents(r_z, inputs["x"].shape[0]), cond, True)
    seen = pack_groups(augment(jax.random.fold_in(r_z, 1), fake), pack)
    adv = adversarial.g_loss(discriminate(params, cols, seen, cond, True)[0])
    loss, metrics = adv, {"g_loss": adv}
    for i, (name, fn) in enumerate(sorted(aux_losses.items())):
      term = fn(params, batch, fake, jax.random.fold_in(r_aux, i))
      metrics[f"aux_{name}"] = term
      loss = loss + inputs["hp"](f"gan.aux_weights.{name}") * term
    metrics["loss"] = loss  # the generator's whole objective (the progress bar's loss)
    return loss, (metrics, g_cols)

  def ema_statistics(params, cols, inputs, rng):
    z = sampler.latents(rng, inputs["x"].shape[0], sampling=True)
    return apply("g", params, cols, z, inputs["cond"], True)[1]

  def generate(nets, z, cond):
    params, cols = nets["g"]
    return apply("g", params, cols, z, cond, False)[0]

  def eval_step(nets, batch, rng):
    """Per-example scores, each [B], with G and D in inference mode (G's EMA copy when on).

    Example i pairs x_i with G(z_i, condition_i): 'd_real'/'d_fake' are D's
    probabilities, 'd_loss' and 'g_loss' that pair's terms of the game's own losses
    (`gan.loss`; their means are the batch losses), 'loss' = 'd_loss'. With
    `gan.pack` > 1 each member gets its group's score.
    """
    r_in, r_z = jax.random.split(rng)
    x, cond = model_inputs(batch, r_in, config.data.binarize), sampler.condition_of(batch)
    fake = generate(nets, sampler.latents(r_z, x.shape[0], sampling=True), cond)
    d_params, d_cols = nets["d"]

    def logits(v):  # [B]: each example gets its group's logit
      out = apply("d", d_params, d_cols, pack_groups(v, pack), cond, False)[0]
      return jnp.repeat(out, pack, axis=0)

    real_logits, fake_logits = logits(x), logits(fake)
    d = per_example(adversarial.d_loss, real_logits, fake_logits)
    return {"d_real": jax.nn.sigmoid(real_logits), "d_fake": jax.nn.sigmoid(fake_logits),
            "d_loss": d, "g_loss": per_example(adversarial.g_loss, fake_logits), "loss": d}

  def visualize(nets, batch):
    """{'samples': G(z)} for one fixed z (key 0) per shown example; {} for 2-D points."""
    if batch["image"].ndim != 4:
      return {}
    z = sampler.latents(jax.random.key(0), batch["image"].shape[0], sampling=True)
    return {"samples": generate(nets, z, sampler.condition_of(batch))}

  players = (
      game_lib.Player("d", d_loss, updates=cfg.n_critic, weight_clip=cfg.weight_clip),
      game_lib.Player("g", g_loss, ema_decay=cfg.ema_decay,
                      ema_warmup=cfg.get("ema_warmup", False), ema_statistics=ema_statistics))
  hparams = ("gan.gp_weight", "gan.r1_gamma", *(f"gan.aux_weights.{n}" for n in aux_losses))
  return game_lib.Game(players=players, prepare=prepare, init=init, eval_step=eval_step,
                       visualize=visualize, generate=generate, sampler=sampler,
                       hparams=hparams)

