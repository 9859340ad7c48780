"""Optimizers and learning-rate schedules from the `optim` config section."""

import optax

from genlab import nonfinite
from genlab.errors import UserError
from genlab.registry import Registry


def make_schedule(cfg, num_steps: int) -> optax.Schedule:
  """Learning-rate schedule: constant, cosine, or linear warm-up then cosine."""
  lr, warmup = cfg.learning_rate, cfg.warmup_steps
  if cfg.schedule == "constant":
    return optax.constant_schedule(lr)
  if cfg.schedule == "cosine":
    return optax.cosine_decay_schedule(lr, max(num_steps, 1))
  if cfg.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, max(num_steps, warmup + 1))
  raise UserError(f"unknown optim.schedule {cfg.schedule!r}; "
                  "known: constant, cosine, warmup_cosine")


_OPTIMIZERS = Registry("optimizer")
_OPTIMIZERS.register("sgd", lambda cfg, lr: optax.sgd(lr))
_OPTIMIZERS.register("momentum", lambda cfg, lr: optax.sgd(lr, momentum=cfg.momentum))
_OPTIMIZERS.register("adam", lambda cfg, lr: optax.adam(lr, b1=cfg.b1, b2=cfg.b2))
_OPTIMIZERS.register(
    "adamw", lambda cfg, lr: optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay))
# optax's defaults (decay 0.9, eps 1e-8), as WGAN's critic and generator use it.
_OPTIMIZERS.register("rmsprop", lambda cfg, lr: optax.rmsprop(lr))


def section(config, network: str | None = None):
  """The `optim` section of `network`: `config.optim[network]` when the config gives each
  network its own (games: `optim.g`, `optim.d`), else the one `config.optim`."""
  if network is not None and network in config.optim:
    return config.optim[network]
  if "name" not in config.optim:
    raise UserError(f"no optim section for network {network!r}; the config has "
                    f"optim.{{{', '.join(sorted(config.optim))}}}")
  return config.optim


def make_optimizer(cfg, num_steps: int, rollback: bool = False) -> optax.GradientTransformation:
  """Builds the optimizer named by `cfg.name`, with optional global-norm clipping.

  The one optimizer builder: single-network families and every player of a game
  (each from its own section, see `section`) come through here.

  Args:
    cfg: an `optim` config section.
    num_steps: total updates of this optimizer (for decaying schedules).
    rollback: keep a learning-rate scale in the optimizer state, which a rollback after
      a non-finite step lowers (genlab.nonfinite; `train.on_nonfinite=rollback`).
  Returns:
    An optax GradientTransformation.
  """
  tx = _OPTIMIZERS.get(cfg.name)(cfg, make_schedule(cfg, num_steps))
  if cfg.grad_clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip), tx)
  return nonfinite.scalable(tx) if rollback else tx
