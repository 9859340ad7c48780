"""Step families: each is ONE object, registered once, that the loop, evaluation,
sampling, the anomaly protocol and the monitor all read.

`config.step_family` names the family. A family bundles:
  make           (model, config, info) -> StepFns: init, train step, eval step, sample
                 grids (and stages, growth, generate + sampler where they exist);
  evaluate       (exp, state, workdir, rng) -> (metrics, figures) for eval.json;
  network        the name of a single-network family's one network in the train
                 state (None for games, whose players name themselves);
  sample         (exp, state, num, rng, label) -> samples, where the family samples;
  encode         (exp, state, uint8 images) -> codes, where it has an encoder;
  anomaly_score  the per-example eval_step key that scores anomalies, where it has one;
  monitor        the class watching its training for known failure modes, if any.
"""

import dataclasses
from typing import Any, Callable

from genlab.evaluation import autoencoder, classifier, gan, representation, sampling, vae
from genlab.monitor import GanMonitor
from genlab.registry import Registry, UnknownNameError
from genlab.steps import (adversarial, classification, cycle, elbo, game, pix2pix, progan,
                          reconstruction)


@dataclasses.dataclass(frozen=True)
class StepFamily:
  """One step family (module docstring)."""

  name: str
  make: Callable[[Any, Any, dict], Any]
  evaluate: Callable[..., tuple[dict, dict]]
  network: str | None = None
  sample: Callable[..., Any] | None = None
  encode: Callable[..., Any] | None = None
  anomaly_score: str | None = None
  monitor: type | None = None


FAMILIES: Registry[StepFamily] = Registry("step family")


def register(family: StepFamily) -> StepFamily:
  """Adds `family` under its name (once)."""
  return FAMILIES.register(family.name, family)


def get(name: str) -> StepFamily:
  """The family called `name`, or a one-line UnknownNameError."""
  return FAMILIES.get(name)


def with_anomaly_score(name: str) -> StepFamily:
  """The family called `name` if it scores anomalies, else a one-line error."""
  family = get(name)
  if family.anomaly_score is None:
    scoring = [n for n in FAMILIES.names() if FAMILIES.get(n).anomaly_score]
    raise UnknownNameError(f"step family {name!r} has no anomaly score; families with one: "
                           f"{', '.join(scoring)}")
  return family


register(StepFamily(
    "reconstruction", reconstruction.make, autoencoder.evaluate,
    network=reconstruction.NETWORK, sample=sampling.autoencoder_samples,
    encode=representation.autoencoder_codes,
    # Relative, not plain, squared error: plain MSE calls every thin digit (a 1) normal
    # because it has little ink to get wrong. Measured on mnist5k, mean AUROC with
    # mse → nmse: ae.py 0.9527 → 0.9654, conv_ae.py 0.9422 → 0.9489.
    anomaly_score="nmse"))
register(StepFamily(
    "elbo", elbo.make, vae.evaluate, network=elbo.NETWORK, sample=sampling.vae_samples,
    encode=representation.vae_codes, anomaly_score="neg_elbo"))
register(StepFamily(
    "classification", classification.make, classifier.evaluate,
    network=classification.NETWORK))
# The adversarial family's games by name (`gan.game`): (model, config, info) -> Game.
GAMES: Registry[Callable[[Any, Any, dict], game.Game]] = Registry("game")
GAMES.register("gan", adversarial.gan_game)
GAMES.register("cycle", cycle.cycle_game)
GAMES.register("pix2pix", pix2pix.pix2pix_game)
GAMES.register("progan", progan.progan_game)


def make_game(model, config, info):
  """The adversarial StepFns of the game named by `gan.game`."""
  return game.make_step_fns(GAMES.get(config.gan.get("game", "gan"))(model, config, info),
                            config)


register(StepFamily(
    "adversarial", make_game, gan.evaluate, sample=sampling.game_samples,
    monitor=GanMonitor))


def make_fns(config, model, info: dict):
  """The StepFns of `config.step_family` for `model` on a dataset with `info`."""
  return get(config.step_family).make(model, config, info)
