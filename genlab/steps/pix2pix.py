"""The 'pix2pix' game (Isola et al. 2017): paired translation source -> target.

Players, in update order: D, then G (genlab.models.pix2pix.Pix2Pix).
  D   tells the real pair (A, B) from (A, G(A)), one logit per patch (`gan.loss`;
      the paper's is the cross-entropy, 'ns');
  G   fools D and stays near the target: adv_weight · adversarial + l1_weight · ‖G(A) − B‖₁
      (`pix2pix.adv_weight`, `pix2pix.l1_weight`; the paper's λ = 100, mean over pixels).
With `adv_weight` = 0 the game has G alone: the L1-only baseline, the same U-Net
trained on L1, with no D to train or store. G's input is the sampler's image condition
(the batch's `source`); its noise is dropout, drawn from the update's key in training
and, as in the paper ("at both training and test time"), from the evaluation's key at
test time (`pix2pix.test_dropout`; off: the deterministic mean network). Scores and
figures stay reproducible: the keys are fixed.
"""

import jax
import jax.numpy as jnp

from genlab import sampler as sampler_lib
from genlab.errors import UserError
from genlab.losses import ADVERSARIAL_LOSSES, discriminator_accuracy, psnr, ssim
from genlab.steps import game as game_lib
from genlab.steps.adversarial import apply_network, per_example, split_variables
from genlab.steps.base import to_unit_float

NETWORKS = {"g": ("generator", "generate"), "d": ("discriminator", "discriminate")}


def _l1(x, y):
  """Per-example mean absolute error [B]."""
  return jnp.mean(jnp.abs(x - y).reshape(x.shape[0], -1), -1)


def pix2pix_game(model, config, info) -> game_lib.Game:
  """The Pix2Pix game of G and D (module docstring)."""
  if info.get("layout") != "paired":
    raise UserError(f"the pix2pix game needs a paired dataset (fields source, target); "
                    f"{config.data.name!r} is {info.get('layout')!r}")
  sampler = sampler_lib.from_config(config, info)
  if sampler.condition != "image":
    raise UserError("the pix2pix game translates images: set sampler.condition='image'")
  adversarial = ADVERSARIAL_LOSSES.get(config.gan.loss)
  with_d = config.pix2pix.adv_weight > 0
  # .get: absent in workdirs made before it; they are evaluated the paper's way too.
  test_dropout = config.pix2pix.get("test_dropout", True)

  def g_apply(params, source, rng, train):
    sub, method = NETWORKS["g"]
    variables = {"params": {sub: params}}
    if not train:
      return model.apply(variables, source, False, method=method)
    return model.apply(variables, source, True, method=method, rngs={"dropout": rng})

  def d_apply(params, source, image):
    sub, method = NETWORKS["d"]
    return apply_network(model, sub, method, params, {}, source, image, train=True)[0]

  def prepare(batch, rng):
    del rng
    return {"source": to_unit_float(sampler.condition_of(batch)),
            "target": to_unit_float(batch["target"])}

  def init(rng, batch):
    x = prepare(batch, rng)
    if with_d:
      variables = model.init({"params": rng, "dropout": rng}, x["source"])
      return split_variables(variables, NETWORKS)
    variables = model.init({"params": rng, "dropout": rng}, x["source"], method="generate")
    return split_variables(variables, {"g": NETWORKS["g"]})

  def d_loss(params, cols, inputs, rng, i):
    del cols
    source, target = inputs["source"], inputs["target"]
    fake = g_apply(params["g"], source, jax.random.fold_in(rng, i), True)
    real_logits = d_apply(params["d"], source, target)
    fake_logits = d_apply(params["d"], source, jax.lax.stop_gradient(fake))
    loss = adversarial.d_loss(real_logits, fake_logits)
    return loss, ({"d_loss": loss,
                   "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
                   "d_accuracy": discriminator_accuracy(real_logits, fake_logits)}, {})

  def g_loss(params, cols, inputs, rng, i):
    del cols
    source, target = inputs["source"], inputs["target"]
    fake = g_apply(params["g"], source, jax.random.fold_in(rng, i), True)
    l1 = jnp.mean(_l1(fake, target))
    hp = inputs["hp"]
    loss = hp("pix2pix.l1_weight") * l1
    metrics = {"l1": l1}
    if with_d:
      adv = adversarial.g_loss(d_apply(params["d"], source, fake))
      loss = loss + hp("pix2pix.adv_weight") * adv
      metrics["g_adv"] = adv
    metrics["g_loss"] = metrics["loss"] = loss
    return loss, (metrics, {})

  def output(nets, batch, rng):
    params, _ = nets["g"]
    return g_apply(params, to_unit_float(sampler.condition_of(batch)), rng, test_dropout)

  def translate(nets, batch, rng):
    return {"output": output(nets, batch, rng)}

  def eval_step(nets, batch, rng):
    """Per-example [B]: G(A) against B (l1, psnr, ssim); with D, the game's own losses
    on (A, B) and (A, G(A)). 'loss' is l1."""
    x = prepare(batch, None)
    out = output(nets, batch, rng)
    err = jnp.mean(jnp.square(out - x["target"]).reshape(out.shape[0], -1), -1)
    scores = {"l1": _l1(out, x["target"]), "psnr": psnr(err), "ssim": ssim(out, x["target"])}
    scores["loss"] = scores["l1"]
    if with_d:
      d_params, _ = nets["d"]
      patch_mean = lambda v: jnp.mean(v.reshape(v.shape[0], -1), -1)
      real = d_apply(d_params, x["source"], x["target"])
      fake = d_apply(d_params, x["source"], out)
      scores.update(d_real=patch_mean(jax.nn.sigmoid(real)),
                    d_fake=patch_mean(jax.nn.sigmoid(fake)),
                    d_loss=per_example(adversarial.d_loss, real, fake),
                    g_adv=per_example(adversarial.g_loss, fake))
    return scores

  def visualize(nets, batch):
    """A | G(A) | B."""
    x = prepare(batch, None)
    out = output(nets, batch, jax.random.key(0))
    return {"source": x["source"], "output": out, "target": x["target"]}

  g = game_lib.Player("g", g_loss, ema_decay=config.gan.ema_decay)
  players = (game_lib.Player("d", d_loss), g) if with_d else (g,)
  return game_lib.Game(players=players, prepare=prepare, init=init, eval_step=eval_step,
                       visualize=visualize, translate=translate,
                       translations={"output": "target"}, source_labels={"output": "label"},
                       hparams=("pix2pix.l1_weight",
                                *(("pix2pix.adv_weight",) if with_d else ())))
