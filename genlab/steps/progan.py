"""The 'progan' game (Karras et al. 2018): G and D that grow 4×4 → 8×8 → … → full size.

Players, in update order: D (`gan.n_critic` updates), then G, on a
genlab.models.progan.GrowingGAN. Stage k trains at 4·2^k px for `progan.stage_steps[k]`
steps; entering it adds a block to each network (genlab.models.progan.grow_params: new
layers at their init, the old ones kept; their optimizer moments are carried over by the
game's grow). For the first `progan.fade_fraction` of a stage's steps the new blocks fade
in linearly, α from 0 to 1 (stage 0 has nothing to fade: α = 1). α is a function of the
step, so a checkpoint taken mid-fade resumes at the same α, and a checkpoint taken just
after a growth holds the grown networks (the loop restores a checkpoint into the networks
of the stage its step belongs to).

Reals are shown to D at the stage's size: the images average-pooled to 4·2^k px and,
during a fade, blended with their 2^(k−1)-size version upsampled, α : 1 − α, as the
reference implementation blends them, so real and fake images go through the same
transition. Loss: `gan.loss` (the paper's Wasserstein) + `gan.gp_weight` · gradient
penalty (WGAN-GP) + `progan.drift` · E[D(x)²] (the drift term that keeps D's output near
0). Batch statistics: none (pixel norm in G, nothing in D), so growing needs no collections.

Everything downstream sees full-size images: `generate` and the sample grids upsample G's
stage-size output (nearest), so evaluation, `experiments.sample` and the report work at
any stage. One batch size serves all stages (the paper shrinks it as images grow).
"""

import jax
import jax.numpy as jnp
import numpy as np

from genlab import sampler as sampler_lib
from genlab.errors import UserError
from genlab.losses import ADVERSARIAL_LOSSES, discriminator_accuracy, gradient_penalty
from genlab.models import progan as progan_lib
from genlab.steps import game as game_lib
from genlab.steps.adversarial import per_example
from genlab.steps.base import to_unit_float

NETWORKS = {"g": ("generator", "generate"), "d": ("discriminator", "discriminate")}


def schedule(stage_steps, fade_fraction: float):
  """(stage_at, alpha) of a run whose stage k lasts stage_steps[k] steps and fades its new
  blocks in over the first fade_fraction of them."""
  starts = np.concatenate([[0], np.cumsum(stage_steps)[:-1]]).astype(int)

  def stage_at(step: int) -> int:
    return int(np.searchsorted(starts, step, side="right") - 1)

  def alpha(step, stage: int):
    fade = int(round(fade_fraction * stage_steps[stage]))
    if stage == 0 or fade == 0:  # nothing to fade, or new blocks in at full weight
      return jnp.float32(1.0)
    return jnp.clip((jnp.asarray(step, jnp.float32) - starts[stage]) / fade, 0.0, 1.0)

  return stage_at, alpha


def _check(config, info) -> tuple[int, int]:
  """(full image size, number of stages), or a one-line UserError."""
  height, width, _ = info["image_shape"]
  if height != width:
    raise UserError(f"progan needs square images; {config.data.name!r} is {height}×{width}")
  stages = progan_lib.num_stages(height)
  cfg = config.progan
  if len(cfg.stage_steps) != stages:
    raise UserError(f"progan.stage_steps needs {stages} entries (4 px to {height} px), "
                    f"got {len(cfg.stage_steps)}")
  if sum(cfg.stage_steps) != config.train.num_steps:
    raise UserError(f"train.num_steps={config.train.num_steps} must equal the sum of "
                    f"progan.stage_steps={tuple(cfg.stage_steps)} ({sum(cfg.stage_steps)})")
  if min(cfg.stage_steps) < 1 or not 0 <= cfg.fade_fraction <= 1:
    raise UserError("progan.stage_steps must be ≥ 1 and progan.fade_fraction in [0, 1]")
  return height, stages


def progan_game(model, config, info) -> game_lib.Game:
  """The growing game of G and D (module docstring)."""
  full, num_stages = _check(config, info)
  cfg, gan_cfg = config.progan, config.gan
  sampler = sampler_lib.from_config(config, info)
  adversarial = ADVERSARIAL_LOSSES.get(gan_cfg.loss)
  stage_at, alpha_at = schedule(tuple(cfg.stage_steps), cfg.fade_fraction)

  def apply(net, params, *args, stage, alpha):
    sub, method = NETWORKS[net]
    return model.apply({"params": {sub: params}}, *args, True, stage, alpha, method=method)

  def reals(x, stage, alpha):
    """The real images at the stage's size, blended with the previous size in a fade."""
    now = progan_lib.downscale(x, stage, full)
    if stage == 0:
      return now
    before = progan_lib.upsample2(progan_lib.downscale(x, stage - 1, full))
    return alpha * now + (1 - alpha) * before

  def to_full(images, stage):
    for _ in range(num_stages - 1 - stage):
      images = progan_lib.upsample2(images)
    return images

  def prepare(batch, rng, stage, alpha):
    del rng
    return {"x": reals(to_unit_float(batch["image"]), stage, alpha),
            "cond": sampler.condition_of(batch), "stage": stage, "alpha": alpha}

  def init_at(rng, batch_size, cond, stage):
    r_init, r_z = jax.random.split(rng)
    z = sampler.latents(r_z, batch_size)
    g_vars = model.init(r_init, z, cond, False, stage, 1.0, method="generate")
    fake = model.apply(g_vars, z, cond, False, stage, 1.0, method="generate")
    d_vars = model.init(r_init, fake, cond, False, stage, 1.0, method="discriminate")
    return {"g": g_vars["params"]["generator"], "d": d_vars["params"]["discriminator"]}

  def init(rng, batch, stage):
    return init_at(rng, batch["image"].shape[0], sampler.condition_of(batch), stage), {}

  # The layers a growth adds start from one fixed draw per stage, so that G and its EMA
  # copy get the same new layers, and a resumed run the ones it grew before.
  example_cond = (jnp.zeros((2,), jnp.int32) if sampler.condition == "label" else None)

  def grow(params, stage):
    fresh = init_at(jax.random.fold_in(jax.random.key(config.seed), 1000 + stage), 2,
                    example_cond, stage)
    return {name: progan_lib.grow_params(tree, fresh[name]) for name, tree in params.items()}

  def stage_of(params):
    return sum(1 for key in params["g"] if key.startswith("to_rgb_")) - 1

  def d_loss(params, cols, inputs, rng, i):
    del cols
    x, cond, stage, alpha = inputs["x"], inputs["cond"], inputs["stage"], inputs["alpha"]
    r_z, r_gp = jax.random.split(jax.random.fold_in(rng, i))
    at = dict(stage=stage, alpha=alpha)
    fake = apply("g", params["g"], sampler.latents(r_z, x.shape[0]), cond, **at)
    critic = lambda v: apply("d", params["d"], v, cond, **at)
    real_logits, fake_logits = critic(x), critic(jax.lax.stop_gradient(fake))
    adv = adversarial.d_loss(real_logits, fake_logits)
    gp = gradient_penalty(critic, x, fake, r_gp)
    drift = jnp.mean(jnp.square(real_logits))
    hp = inputs["hp"]
    loss = adv + hp("gan.gp_weight") * gp + hp("progan.drift") * drift
    return loss, ({"d_loss": adv, "gp": gp, "drift": drift, "alpha": alpha,
                   "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
                   "d_accuracy": discriminator_accuracy(real_logits, fake_logits)}, {})

  def g_loss(params, cols, inputs, rng, i):
    del cols, i
    cond, at = inputs["cond"], dict(stage=inputs["stage"], alpha=inputs["alpha"])
    fake = apply("g", params["g"], sampler.latents(rng, inputs["x"].shape[0]), cond, **at)
    adv = adversarial.g_loss(apply("d", params["d"], fake, cond, **at))
    return adv, ({"g_loss": adv, "loss": adv}, {})

  def generate(nets, z, cond, stage, alpha):
    params, _ = nets["g"]
    return to_full(apply("g", params, z, cond, stage=stage, alpha=alpha), stage)

  def eval_step(nets, batch, rng, stage, alpha):
    """Per-example [B] at the networks' stage: D's probabilities on x_i and G(z_i), that
    pair's adversarial terms ('loss' = 'd_loss'; no penalties)."""
    x, cond = prepare(batch, None, stage, alpha)["x"], sampler.condition_of(batch)
    at = dict(stage=stage, alpha=alpha)
    fake = apply("g", nets["g"][0], sampler.latents(rng, x.shape[0], sampling=True), cond,
                 **at)
    real_logits = apply("d", nets["d"][0], x, cond, **at)
    fake_logits = apply("d", nets["d"][0], fake, cond, **at)
    d = per_example(adversarial.d_loss, real_logits, fake_logits)
    return {"d_real": jax.nn.sigmoid(real_logits), "d_fake": jax.nn.sigmoid(fake_logits),
            "d_loss": d, "g_loss": per_example(adversarial.g_loss, fake_logits), "loss": d}

  def visualize(nets, batch, stage, alpha):
    """{'samples': G(z)} at full size for one fixed z (key 0) per shown example."""
    z = sampler.latents(jax.random.key(0), batch["image"].shape[0], sampling=True)
    return {"samples": generate(nets, z, sampler.condition_of(batch), stage, alpha)}

  staging = game_lib.Staging(stages=tuple(range(num_stages)), stage_at=stage_at,
                             alpha=alpha_at, stage_of=stage_of, grow=grow)
  players = (game_lib.Player("d", d_loss, updates=gan_cfg.n_critic),
             game_lib.Player("g", g_loss, ema_decay=gan_cfg.ema_decay,
                              ema_warmup=gan_cfg.get("ema_warmup", False)))
  return game_lib.Game(players=players, prepare=prepare, init=init, eval_step=eval_step,
                       visualize=visualize, generate=generate, sampler=sampler,
                       hparams=("gan.gp_weight", "progan.drift"), staging=staging)
