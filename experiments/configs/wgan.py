"""Wasserstein GAN (Arjovsky et al. 2017) and WGAN-GP (Gulrajani et al. 2017) on mnist5k.

Both use DCGAN's G and D (genlab.models.dcgan); D is a critic: no sigmoid, the
Wasserstein loss E D(G(z)) − E D(x), n_critic = 5 critic updates per G update.
The default is the WGAN paper's Algorithm 1: weight clipping to [−0.01, 0.01] after
every critic update, RMSProp 5e-5 for both players.
Variants:
  gp         gradient penalty λ = 10 (α per example), no clipping, Adam(1e-4, 0, 0.9), layer norm
The in-loop evaluations score samples (`monitor.sample_scores`), so the report
plots the critic's estimate −d_loss against dFID over training.
Notes (the penalty's details, critic vs dFID measured): docs/gans.md#wgan-and-wgan-gp

  python -m experiments.main --config=experiments/configs/wgan.py:gp --workdir=runs/wgan_gp
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, {"gp"})
  c = presets.dcgan()
  g = c.gan
  g.loss, g.n_critic = "wasserstein", 5
  g.ema_decay = 0.0  # as in both papers; with ~1,000 G steps an EMA would mostly lag
  # A critic is meant to separate real from fake (its accuracy near 1 is no imbalance),
  # and its sigmoid(D) says nothing: the probability-based alarms are off.
  c.monitor.imbalance_high, c.monitor.vanish_d_fake = 1.01, 0.0
  if "gp" in variants:
    g.gp_weight = 10.0
    for player in (c.optim.g, c.optim.d):
      player.learning_rate, player.b1, player.b2 = 1e-4, 0.0, 0.9
    c.model.d_norm = "layer"
  else:
    g.weight_clip = 0.01
    for player in (c.optim.g, c.optim.d):
      player.name, player.learning_rate = "rmsprop", 5e-5
  # Each step is 5 critic updates (with the penalty's double backward for gp): ~3× and
  # ~6× a DCGAN step, so fewer G steps fit 10 CPU-minutes. A dFID point every 100 G
  # steps for the critic-vs-dFID plot.
  c.train.num_steps = 1000 if "gp" in variants else 1500
  c.train.eval_every = 100
  return presets.finalize(c, variants)
