"""The 'cycle' game: CycleGAN's four players on unpaired two-domain data (fields `a`, `b`).

Players, in update order: D_a, D_b, then G_ab, G_ba (genlab.models.cycle.CycleGAN).
  D_a     tells real a from G_ba(b); D_b tells real b from G_ab(a) (`gan.loss`;
          CycleGAN uses 'least_squares');
  G_ab    fools D_b, and keeps the terms of the cycle objective it appears in:
          ‖G_ba(G_ab(a)) − a‖₁ + ‖G_ab(G_ba(b)) − b‖₁ (`cycle.cycle_weight`) and the
          identity ‖G_ab(b) − b‖₁ (`cycle.identity_weight`); G_ba mirrors it.
Each generator's loss runs BOTH generators (the cycle), reading the other's newest
parameters: the game's losses see every player. A term that does not depend on a
player's parameters has no gradient for it, so each generator keeps only its own terms
of the joint objective; its gradient is the joint objective's.

With `cycle.pool_size` > 0 each D judges its fakes through a history pool
(genlab.steps.image_pool) kept in its collections, so checkpoints carry it. Evaluation
translates both ways (`translate`: 'ab' is scored against real b, 'ba' against real a,
each keeping its source's label).
"""

import jax
import jax.numpy as jnp

from genlab.losses import ADVERSARIAL_LOSSES, discriminator_accuracy
from genlab.models.cycle import PLAYERS
from genlab.steps import game as game_lib
from genlab.steps import image_pool
from genlab.steps.adversarial import apply_network, per_example, split_variables
from genlab.steps.base import to_unit_float

_OTHER = {"a": "b", "b": "a"}


def _l1(x, y):
  """Per-example mean absolute error [B]."""
  return jnp.mean(jnp.abs(x - y).reshape(x.shape[0], -1), -1)


def cycle_game(model, config, info) -> game_lib.Game:
  """The four-player CycleGAN game (module docstring)."""
  del info
  adversarial = ADVERSARIAL_LOSSES.get(config.gan.loss)

  pool_size = config.cycle.get("pool_size", 0)

  def net(params, cols, name, x, train):
    """One player's network; (output, its updated collections, the pool left out)."""
    method = "translate" if name.startswith("g") else "discriminate"
    own = {k: v for k, v in cols.get(name, {}).items() if k != "pool"}
    return apply_network(model, name, method, params[name], own, name, x, train=train)

  def prepare(batch, rng):
    del rng
    return {"a": to_unit_float(batch["a"]), "b": to_unit_float(batch["b"])}

  def init(rng, batch):
    x = prepare(batch, rng)
    variables = model.init(rng, x["a"], x["b"])
    params, cols = split_variables(variables, {p: (p, None) for p in PLAYERS})
    if pool_size:
      for domain in ("a", "b"):
        cols[f"d_{domain}"]["pool"] = image_pool.init(pool_size, x[domain].shape[1:])
    return params, cols

  def d_loss(domain):
    """D_<domain>: real images of `domain` against the other generator's fakes."""
    d, g = f"d_{domain}", f"g_{_OTHER[domain]}{domain}"

    def loss(params, cols, inputs, rng, i):
      fake, _ = net(params, cols, g, inputs[_OTHER[domain]], True)
      pool = {}
      if pool_size:
        fake, pool["pool"] = image_pool.query(cols[d]["pool"], fake,
                                              jax.random.fold_in(rng, i))
      real_logits, d_cols = net(params, cols, d, inputs[domain], True)
      fake_logits, d_cols = net(params, {**cols, d: d_cols}, d, fake, True)
      value = adversarial.d_loss(real_logits, fake_logits)
      return value, ({f"{d}_loss": value,
                      f"{d}_accuracy": discriminator_accuracy(real_logits, fake_logits)},
                     {**d_cols, **pool})
    return loss

  def g_loss(src, dst):
    """G_<src><dst>: its adversarial term against D_<dst> and its cycle terms."""
    g, back, d = f"g_{src}{dst}", f"g_{dst}{src}", f"d_{dst}"

    def loss(params, cols, inputs, rng, i):
      del rng, i
      x, y = inputs[src], inputs[dst]
      fake, g_cols = net(params, cols, g, x, True)
      adv = adversarial.g_loss(net(params, cols, d, fake, True)[0])
      # Both cycles run G: src -> dst -> src, and dst -> src -> dst.
      there_and_back = jnp.mean(_l1(net(params, cols, back, fake, True)[0], x))
      back_and_there = jnp.mean(_l1(net(params, cols, g, net(params, cols, back, y, True)[0],
                                        True)[0], y))
      identity = jnp.mean(_l1(net(params, cols, g, y, True)[0], y))
      hp = inputs["hp"]
      total = (adv + hp("cycle.cycle_weight") * (there_and_back + back_and_there)
               + hp("cycle.identity_weight") * identity)
      return total, ({f"{g}_loss": total, f"{g}_adv": adv,
                      f"cycle_{src}": there_and_back, f"identity_{dst}": identity}, g_cols)
    return loss

  def translations(nets, batch):
    x = prepare(batch, None)
    run = lambda name, v: net({name: nets[name][0]}, {name: nets[name][1]}, name, v, False)[0]
    ab, ba = run("g_ab", x["a"]), run("g_ba", x["b"])
    return x, {"ab": ab, "aba": run("g_ba", ab), "ba": ba, "bab": run("g_ab", ba)}

  def eval_step(nets, batch, rng):
    """Per-example [B]: each cycle's L1 error, each D's loss on (real, translated)
    pairs; 'loss' is the sum of the two cycle errors."""
    del rng
    x, t = translations(nets, batch)
    disc = lambda name, v: net({name: nets[name][0]}, {name: nets[name][1]}, name, v, False)[0]
    out = {"cycle_a": _l1(t["aba"], x["a"]), "cycle_b": _l1(t["bab"], x["b"])}
    out["cycle_l1"] = 0.5 * (out["cycle_a"] + out["cycle_b"])
    for domain, fake in (("a", t["ba"]), ("b", t["ab"])):
      out[f"d_{domain}_loss"] = per_example(adversarial.d_loss, disc(f"d_{domain}", x[domain]),
                                            disc(f"d_{domain}", fake))
    out["loss"] = out["cycle_a"] + out["cycle_b"]
    return out

  def visualize(nets, batch):
    """a, G_ab(a), G_ba(G_ab(a)); b, G_ba(b), G_ab(G_ba(b))."""
    x, t = translations(nets, batch)
    return {"a": x["a"], "a_to_b": t["ab"], "a_cycle": t["aba"],
            "b": x["b"], "b_to_a": t["ba"], "b_cycle": t["bab"]}

  players = (game_lib.Player("d_a", d_loss("a")), game_lib.Player("d_b", d_loss("b")),
             game_lib.Player("g_ab", g_loss("a", "b"), ema_decay=config.gan.ema_decay),
             game_lib.Player("g_ba", g_loss("b", "a"), ema_decay=config.gan.ema_decay))
  def translate(nets, batch, rng):
    del rng  # deterministic generators
    _, t = translations(nets, batch)
    return {"ab": t["ab"], "ba": t["ba"]}

  return game_lib.Game(players=players, prepare=prepare, init=init, eval_step=eval_step,
                       visualize=visualize, translate=translate,
                       translations={"ab": "b", "ba": "a"},
                       source_labels={"ab": "a_label", "ba": "b_label"},
                       hparams=("cycle.cycle_weight", "cycle.identity_weight"))

