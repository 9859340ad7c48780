"""Shared config presets; each experiments/configs/NAME.py holds only what differs.

Arg strings are comma-separated tokens: variant names (`under`, `smoke`, ...) and
`key=value` pairs for typed fields a config file declares (e.g. `code=64`).
"""

import math

import ml_collections

from genlab.errors import UserError

SMOKE = "smoke"


def parse_arg(arg: str | None, variants: set[str], fields: dict | None = None) -> tuple[set, dict]:
  """Splits an arg string into (variants, typed fields); unknown tokens fail clearly.

  Args:
    arg: e.g. "under,smoke" or "code=64".
    variants: the variant names this config accepts (`smoke` is always accepted).
    fields: {name: default} for `key=value` tokens; values are cast to the default's type.
  Returns:
    (set of variant names, {field: value}).
  """
  fields = dict(fields or {})
  allowed = set(variants) | {SMOKE}
  chosen = set()
  for token in filter(None, (t.strip() for t in (arg or "").split(","))):
    if "=" in token:
      key, value = token.split("=", 1)
      if key not in fields:
        raise UserError(f"unknown config arg field {key!r}; known: {', '.join(sorted(fields)) or 'none'}")
      try:
        fields[key] = type(fields[key])(value)
      except ValueError:
        kind = {int: "an integer", float: "a number"}.get(type(fields[key]),
                                                          type(fields[key]).__name__)
        raise UserError(f"config arg field {key!r} needs {kind}, got {value!r}") from None
    elif token in allowed:
      chosen.add(token)
    else:
      raise UserError(f"unknown config variant {token!r}; known: {', '.join(sorted(allowed))}")
  return chosen, fields


def optim(**overrides) -> ml_collections.ConfigDict:
  """One network's optimizer section (genlab.optim.make_optimizer reads it)."""
  c = ml_collections.ConfigDict(dict(
      name="adam", learning_rate=1e-3, schedule="constant", warmup_steps=0,
      b1=0.9, b2=0.999, momentum=0.9, weight_decay=0.0, grad_clip=0.0))
  c.update(overrides)
  return c


def base() -> ml_collections.ConfigDict:
  """Fields every experiment has (data, optimizer, loop cadence)."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  # K > 1: K runs (seeds seed..seed+K-1) trained in one vmapped step, each in
  # WORKDIR/<name>; population_sweep 'KEY=v1,...,vK' also varies a traced scalar
  # (genlab.population).
  c.population, c.population_sweep = 1, ""
  c.step_family = ""
  c.data = ml_collections.ConfigDict(dict(
      name="mnist5k", data_dir="", batch_size=128, eval_batch_size=500, binarize=False,
      train_classes=()))
  c.model = ml_collections.ConfigDict()
  c.optim = optim()
  c.train = ml_collections.ConfigDict(dict(
      num_steps=5000, log_every=100, eval_every=500, sample_every=1000,
      checkpoint_every=1000, keep_checkpoints=2, layerwise_steps=0,
      # NaN or infinite loss, gradients or state: stop, skip the step, or roll back to
      # the newest checkpoint at a lower learning rate (genlab/nonfinite.py).
      on_nonfinite="stop", rollback_factor=0.5, max_rollbacks=3,
      # K > 1 fuses K steps into one compiled call (lax.scan): for tiny models, whose
      # step is shorter than its dispatch. Cadences must be multiples of K.
      steps_per_call=1))
  # What experiments.evaluate measures; see README "Metrics and protocols".
  c.eval = ml_collections.ConfigDict(dict(
      num_samples=1000, feature_net_steps=FEATURE_NET_STEPS, probe=True))
  return c


# The domain classifier behind dFID & co. Measured on mnist5k (test accuracy): 2,000
# steps, 128 features: 98.0 %; 3,000 steps: 98.1 %; 3,000 steps, 256 features: 98.6 %.
FEATURE_NET_STEPS = 3000
SMOKE_FEATURE_NET_STEPS = 30


def classifier(num_steps: int = FEATURE_NET_STEPS) -> ml_collections.ConfigDict:
  """The classification family: the 2-conv CNN whose features the sample metrics use."""
  c = base()
  c.step_family = "classification"
  c.model = ml_collections.ConfigDict(dict(
      name="classifier", channels=(32, 64), feature_size=256, dropout=0.0))
  c.augment = ml_collections.ConfigDict(dict(shift=2))
  c.optim.schedule = "cosine"
  c.train.num_steps = num_steps
  c.train.eval_every = c.train.checkpoint_every = 500
  c.eval.probe = False
  return c


def autoencoder() -> ml_collections.ConfigDict:
  """The reconstruction family on mnist5k: MLP 784-512-256-32, MSE, AdamW, cosine decay."""
  c = base()
  c.step_family = "reconstruction"
  c.model = ml_collections.ConfigDict(dict(
      name="mlp_ae", hidden=(512, 256), code_size=32, activation="relu",
      code_activation="linear", tied=False, channels=(32, 64)))
  # Measured on mnist5k: 4,000 training digits overfit a 1M-parameter AE; decoupled
  # weight decay and a cosine decay gave 0.0099 test MSE against 0.0109 for plain Adam.
  c.optim.name, c.optim.weight_decay, c.optim.schedule = "adamw", 0.05, "cosine"
  c.train.num_steps = 3000
  c.loss = ml_collections.ConfigDict(dict(reconstruction="mse"))
  c.noise = ml_collections.ConfigDict(dict(mask_prob=0.0, gaussian_std=0.0))
  c.sparsity = ml_collections.ConfigDict(dict(beta=0.0, rho=0.05, estimate="batch", momentum=0.9))
  return c


def vae() -> ml_collections.ConfigDict:
  """The ELBO family on mnist5k: MLP 784-500-20 VAE, Bernoulli, AdamW, 100 epochs."""
  c = base()
  c.step_family = "elbo"
  c.data.binarize = True
  c.model = ml_collections.ConfigDict(dict(
      name="vae", latent_size=20, hidden=(500,), channels=(), activation="relu",
      learn_sigma=False, init_log_sigma=-2.0))
  c.vae = ml_collections.ConfigDict(dict(beta=1.0, kl_warmup_steps=0, likelihood="bernoulli"))
  c.eval.iwae_k, c.eval.iwae_chunk = 1000, 100
  # 100 epochs of 4,000 digits. Measured (test −ELBO, nats): Adam, batch 128: 109.5;
  # + cosine, batch 64: 107.7; batch 32: 107.3; + decoupled weight decay 0.1: 106.8.
  c.data.batch_size = 32
  c.train.num_steps = 12500
  c.optim.name, c.optim.weight_decay, c.optim.schedule = "adamw", 0.1, "cosine"
  return c


def smoke(c: ml_collections.ConfigDict, batch_size: int = 32) -> ml_collections.ConfigDict:
  """Shrinks a config to seconds on CPU while keeping every code path alive."""
  t = c.train
  t.num_steps, t.log_every, t.eval_every, t.sample_every, t.checkpoint_every = 20, 5, 10, 10, 10
  t.steps_per_call = math.gcd(t.steps_per_call, 5)  # still fused where the config fuses
  if t.layerwise_steps:
    t.layerwise_steps = 4
  c.data.batch_size = batch_size
  c.data.eval_batch_size = 250
  c.eval.feature_net_steps = SMOKE_FEATURE_NET_STEPS
  c.eval.num_samples = min(c.eval.num_samples, 200)
  if "iwae_k" in c.eval:
    c.eval.iwae_k, c.eval.iwae_chunk = 20, 10
  if "gan" in c:  # two critic updates still run the n_critic loop, at less compile time
    c.gan.n_critic = min(c.gan.n_critic, 2)
  return c


def finalize(c: ml_collections.ConfigDict, variants: set,
             smoke_batch_size: int = 32) -> ml_collections.ConfigDict:
  """Applies `smoke` last and locks the config so mistyped overrides fail. The big
  models' smoke runs take a smaller batch (the same networks, seconds on CPU)."""
  if SMOKE in variants:
    smoke(c, smoke_batch_size)
  c.lock()
  return c


def gan() -> ml_collections.ConfigDict:
  """The adversarial family on mnist5k: an unconditional MLP GAN, non-saturating loss."""
  c = base()
  c.step_family = "adversarial"
  c.model = ml_collections.ConfigDict(dict(
      name="mlp_gan", latent_size=64, g_hidden=(256, 256, 256), d_hidden=(256, 256, 256),
      activation="relu",  # the generator's; the discriminator uses leaky ReLU
      conditional=False))  # True: G and D both see one-hot labels
  # Each player has its own optimizer section (two time-scale updates: --config.optim.d.*).
  c.optim = ml_collections.ConfigDict(dict(g=optim(learning_rate=2e-4, b1=0.5),
                                           d=optim(learning_rate=2e-4, b1=0.5)))
  # What G takes (genlab.sampler): the prior, and the condition ('' = from
  # model.conditional: a class label, or none).
  c.sampler = ml_collections.ConfigDict(dict(
      prior="normal",  # normal | truncated | hierarchical
      truncation=0.0,  # τ of the truncated prior at sampling time (0: none)
      chunks=1,  # parts of a hierarchical z
      condition=""))  # '' | none | label | image
  c.gan = ml_collections.ConfigDict(dict(
      game="gan",  # genlab.steps.adversarial.GAMES: gan (G and D) | cycle (CycleGAN's four)
      loss="ns",  # a genlab.losses.ADVERSARIAL_LOSSES name
      n_critic=1,  # D updates per G update, all inside one train step
      pack=1,  # PacGAN: D judges groups of `pack` samples, so it can see missing modes
      ema_decay=0.0,  # > 0: keep an EMA copy of G (params and batch statistics) to sample
      ema_warmup=False,  # ramp the EMA's decay up from 0.1 (genlab.steps.game.Player)
      gp_weight=0.0,  # WGAN-GP λ
      r1_gamma=0.0,  # R1 γ (the penalty is scaled by γ/2)
      weight_clip=0.0,  # > 0: clip D's params to [−c, c] after each update (WGAN)
      augment="",  # DiffAugment policy for what D sees, e.g. "translation,cutout"
      aux_weights={}))  # {AUX_G_LOSSES name: weight}: extra generator terms (L1, cycle)
  # genlab.monitor.GanMonitor: alarms for the failure modes, in the log and the report.
  c.monitor = ml_collections.ConfigDict(dict(
      enabled=True,
      # Images: score eval.num_samples samples (dFID, class entropy, ...) at every
      # evaluation, for training curves and the mode-collapse alarm (~1 s each).
      sample_scores=True,
      patience=5,  # log intervals a condition must hold before its alarm
      # Measured on mnist5k with D winning at once: minimax gives |∇G| ≈ 1e-3, the
      # non-saturating loss ≈ 1 against the same D.
      vanish_d_fake=0.05, vanish_g_grad=0.01,
      imbalance_high=0.98,  # D accuracy above: D wins
      imbalance_low=0.52,  # D accuracy within [0.48, 0.52]: D at chance
      # Oscillation over the last `window` logs of d_loss/g_loss: net change below
      # ratio × total variation, and std above swing × the mean |loss|.
      oscillation_window=20, oscillation_ratio=0.25, oscillation_swing=0.25,
      # Mode collapse, checked at each evaluation (toy data in the loop, class entropy
      # of image samples at evaluation): modes < mode_drop × the best so far, or
      # < mode_fraction × all modes, or class entropy < min_class_entropy nats.
      mode_drop=0.8, mode_fraction=0.2, min_class_entropy=1.5,
      mode_patience=2))  # evaluations
  c.eval.probe = False  # a GAN has no encoder to probe
  return c


def dcgan() -> ml_collections.ConfigDict:
  """The adversarial family with DCGAN's conv G and D (genlab.models.dcgan) on mnist5k."""
  c = gan()
  c.model = ml_collections.ConfigDict(dict(
      name="dcgan", latent_size=64, g_channels=(128, 64), d_channels=(64, 128),
      upsample="adjoint",  # adjoint | transpose | subpixel (README "DCGAN speed")
      d_norm="batch",  # batch | layer | none (penalties need per-example D outputs)
      d_head_convs=0,  # 3×3 conv blocks after D's last downsampling (a wider view)
      conditional=False))
  c.data.batch_size = 64
  c.optim.g.learning_rate = c.optim.d.learning_rate = 4e-4
  c.gan.ema_decay = 0.999
  # ~6,000 steps fit 10 CPU-minutes with the in-loop sample scores at each evaluation.
  c.train.num_steps, c.train.eval_every = 6000, 1000
  return c


# The ResNet GANs' real-data variants: (tfds name, G channels per block, attention
# resolution). D mirrors G's widths in reverse. cifar10: SAGAN/BigGAN's 32 px CIFAR
# setting (256 wide); imagenet64: ImageNet at 64 px, the class-conditional benchmark
# both papers report (here 4 blocks, 512 -> 64 wide, attention at 32 px).
RESNET_GAN_DATA = {
    "cifar10": ("tfds:cifar10", (256, 256, 256), 16),
    "imagenet64": ("tfds:imagenet_resized/64x64", (512, 256, 128, 64), 32),
}


RESNET_GAN_SMOKE_BATCH = 8  # a 64-wide ResNet GAN step at batch 32 takes ~2 CPU-s


def resnet_gan(name: str, variants: set) -> ml_collections.ConfigDict:
  """SAGAN ('sagan') or BigGAN ('biggan') on mnist5k32, or a RESNET_GAN_DATA variant.

  Both: ResNet G and D (genlab.models.biggan), self-attention at 16 px, spectral norm on
  G and D, class-conditional BN in G and a projection D, hinge loss, TTUR (Adam 1e-4 for
  G, 4e-4 for D, b1 0, b2 0.9), an EMA of G for sampling. BigGAN adds the shared class
  embedding and the hierarchical z of its CBNs and orthogonal regularization of G.
  """
  c = gan()
  # Both at 96,000 image-steps: the smaller the batch, the more updates, and the classes
  # come with the updates. SAGAN (G at TTUR's 1e-4) needs batch 16: class accuracy 0.62
  # at batch 64, 0.91 / 0.89 (two seeds) at 32, 0.990 / 0.989 at 16 with the EMA; BigGAN
  # has its classes at 32 (docs/large_gans.md).
  c.data.name, c.data.batch_size = "mnist5k32", 16 if name == "sagan" else 32
  c.model = ml_collections.ConfigDict(dict(
      # 32 wide: a step at batch 32 takes ~0.3 CPU-s here (64 wide: ~4x).
      name=name, latent_size=128, g_channels=(32, 32, 32), d_channels=(32, 32, 32),
      attention_res=16,  # the feature-map side of the attention block (0: none)
      embed_size=32 if name == "biggan" else 0,  # BigGAN's shared class embedding
      conditional=True))
  c.gan.loss = "hinge"
  c.optim.g = optim(learning_rate=1e-4, b1=0.0, b2=0.9)
  c.optim.d = optim(learning_rate=4e-4, b1=0.0, b2=0.9)
  # ~13 (SAGAN, 6,000 steps at ~0.12 CPU-s) and ~17 (BigGAN, 3,000 at ~0.3) CPU-minutes
  # on one core here, in the 20.
  steps = 96_000 // c.data.batch_size
  c.train.num_steps, c.train.eval_every, c.train.sample_every = steps, steps // 3, steps // 3
  # An EMA of G for sampling (BigGAN's; measured for SAGAN too: dFID 209.6 -> 168.9 at
  # batch 32, 132.1 -> 103.3 at 16), warmed up so a CPU-length run can use it.
  c.gan.ema_decay, c.gan.ema_warmup = 0.999, True
  real = sorted(variants & set(RESNET_GAN_DATA))
  if len(real) > 1:
    raise UserError(f"{name} variants {' and '.join(real)} exclude each other")
  for key in real:
    c.data.name, widths, c.model.attention_res = RESNET_GAN_DATA[key]
    c.model.g_channels, c.model.d_channels = widths, widths[::-1]
    c.model.latent_size = 120 if name == "biggan" and len(widths) == 4 else 128
    c.model.embed_size = 128 if name == "biggan" else 0
    c.data.batch_size = 64 if key == "cifar10" else 256
    c.train.num_steps, c.train.eval_every, c.train.sample_every = 100_000, 5000, 5000
  if name == "biggan":
    c.sampler.prior = "hierarchical"
    c.sampler.chunks = len(c.model.g_channels) + 1  # one for the input, one per block
    c.gan.aux_weights = ml_collections.ConfigDict(dict(orthogonal=5e-5))  # β = 1e-4
    if not real:  # at TTUR's 1e-4 G learnt the classes too slowly (lab notes in docs/large_gans.md)
      c.optim.g.learning_rate = 4e-4
    # The report's truncation curve: scores at each τ (genlab.evaluation.large_gans).
    c.eval.truncation_curve = (2.0, 1.5, 1.0, 0.75, 0.5)
  return c


# ProGAN's real-data variants: (tfds name, widths per resolution from 4 px up).
PROGAN_DATA = {
    "cifar10": ("tfds:cifar10", (256, 256, 256, 256)),
    "imagenet64": ("tfds:imagenet_resized/64x64", (256, 256, 256, 128, 64)),
}


def progan(variants: set) -> ml_collections.ConfigDict:
  """ProGAN (genlab.steps.progan) on mnist5k32: 4 stages, 4 -> 32 px, or a PROGAN_DATA set.

  Equalized learning rate, pixel norm in G, minibatch stddev in D, WGAN-GP (λ = 10) with
  drift 0.001, Adam 1e-3 (b1 0, b2 0.99) for both, an EMA of G (0.999, warmed up); each
  stage's new blocks fade in over the first half of its steps.
  """
  c = gan()
  c.data.name, c.data.batch_size = "mnist5k32", 64
  widths = (64, 64, 32, 16)
  c.model = ml_collections.ConfigDict(dict(
      name="progan", latent_size=128, g_channels=widths, d_channels=widths,
      conditional=False))
  c.gan.game, c.gan.loss, c.gan.gp_weight = "progan", "wasserstein", 10.0
  c.gan.ema_decay, c.gan.ema_warmup = 0.999, True
  c.optim.g = optim(learning_rate=1e-3, b1=0.0, b2=0.99)
  c.optim.d = optim(learning_rate=1e-3, b1=0.0, b2=0.99)
  # 2,600 steps, ~17 CPU-minutes here: the 32 px stage costs ~0.9 CPU-s a step, twice
  # the 16 px one (with 1,000 steps there the run took 23; docs/large_gans.md).
  stage_steps = (400, 800, 800, 600)
  real = sorted(variants & set(PROGAN_DATA))
  if len(real) > 1:
    raise UserError(f"progan variants {' and '.join(real)} exclude each other")
  for key in real:
    c.data.name, widths = PROGAN_DATA[key]
    c.model.g_channels = c.model.d_channels = widths
    c.model.latent_size = 256
    stage_steps = (20_000,) * len(widths)
  if SMOKE in variants:  # every stage, every fade and every growth, in smoke's 20 steps
    n = len(c.model.g_channels)
    stage_steps = (20 // n,) * (n - 1) + (20 - (n - 1) * (20 // n),)
  c.progan = ml_collections.ConfigDict(dict(
      stage_steps=stage_steps,  # steps per resolution, from 4 px up (sum = num_steps)
      fade_fraction=0.5,  # of a stage's steps, over which its new blocks fade in
      drift=0.001))  # ε of the drift term ε·E[D(x)²]
  c.train.num_steps = sum(stage_steps)
  # A score and a grid at the end of every stage (the stage sizes are multiples of it).
  c.train.eval_every = c.train.sample_every = 200 if not real else 5000
  return c
