"""Training health monitors: name a run's known failure modes while it trains.

A monitor reads the scalars the loop logs (host-side floats, no jax) and raises
an `Alarm` when a failure mode's condition has held for `monitor.patience`
consecutive log intervals. Each alarm is raised once per episode: it can fire
again only after its condition has cleared. The loop prints alarms and logs
them as `alarm/<name>` = 1.0 in metrics.jsonl; the report lists them.

The GAN monitor (`monitor` config section, see `presets.gan`) knows the
lecture's failure modes:

  vanishing_gradient  train/d_fake < vanish_d_fake and train/g_grad_norm <
                      vanish_g_grad: D rejects every fake and G gets no gradient
                      (the saturating minimax loss; the non-saturating loss keeps
                      a gradient of order 1 against the same D).
  imbalance           train/d_accuracy > imbalance_high (D wins), or within
                      [1 − imbalance_low, imbalance_low] (D at chance).
  oscillation         d_loss or g_loss swings without a trend; see `_oscillates`.
  mode_collapse       fed by `update_samples` (evaluations, not log intervals):
                      modes lost against the best evaluation so far, too few
                      modes, or a low class entropy of samples on images.

A step family names its monitor class (`StepFamily.monitor`); a family without one
is not monitored. `LoopMonitor` is the thin layer the training loop calls.
"""

import dataclasses
import math
import sys
from collections import deque

from genlab.errors import UserError
from genlab.writers import read_metrics

# One line per GanMonitor alarm, for the report's table.
GAN_ALARMS = {
    "vanishing_gradient": "D rejects every fake and G's gradient vanished (saturating loss)",
    "imbalance": "D wins outright, or sits at chance",
    "oscillation": "d_loss/g_loss swing without converging",
    "mode_collapse": "samples lost modes (toy data) or classes (images)",
}


@dataclasses.dataclass(frozen=True)
class Alarm:
  step: int
  name: str
  message: str

  def line(self) -> str:
    return f"alarm at step {self.step}: {self.name}: {self.message}"


class _Episodes:
  """Counts consecutive holds per condition; says when a condition fires."""

  def __init__(self):
    self._runs: dict[str, int] = {}
    self._raised: set[str] = set()

  def check(self, key: str, holds: bool, patience: int) -> bool:
    """True exactly once per episode: when `key` has held `patience` times in a row."""
    if not holds:
      self._runs[key] = 0
      self._raised.discard(key)  # cleared: the next episode may fire again
      return False
    self._runs[key] = self._runs.get(key, 0) + 1
    if self._runs[key] >= patience and key not in self._raised:
      self._raised.add(key)
      return True
    return False


def _oscillates(values, ratio: float, swing: float) -> bool:
  """True if a window of logged values swings hard without going anywhere.

  Two conditions, both needed:
    * no trend: |x_last − x_first| < ratio · Σ|Δx| (net change small against the
      total variation; a monotone series has ratio 1, k full swings about 1/(2k));
    * large swings: std(x) > swing · mean(|x|) (relative to the loss level).
  A noisy but converging loss fails the first test (its trend dominates) or,
  once it has settled, the second (log-interval means have small noise around
  their level); a loss that keeps swinging by a good fraction of its level, or
  with a growing amplitude, passes both. Swings slower than about window/2.5
  log intervals may look like a trend at some phases and restart the count.
  """
  x = list(values)
  total_variation = sum(abs(b - a) for a, b in zip(x, x[1:]))
  if total_variation == 0:
    return False
  mean = sum(x) / len(x)
  std = math.sqrt(sum((v - mean) ** 2 for v in x) / len(x))
  level = sum(abs(v) for v in x) / len(x)
  return (abs(x[-1] - x[0]) < ratio * total_variation) and std > swing * max(level, 1e-12)


def _score(scores: dict, name: str):
  """scores[name], or scores['<split>/<name>'] for any split (test/, samples/)."""
  if name in scores:
    return scores[name]
  for key, value in scores.items():
    if key.rsplit("/", 1)[-1] == name:
      return value
  return None


def sample_collapse(cfg, scores: dict, best_modes: float = 0.0,
                    num_modes: int | None = None) -> str | None:
  """Why sample scores look collapsed (None if they do not): one-shot, no patience.

  Args:
    cfg: the `monitor` config section.
    scores: sample scores, e.g. {'test/modes': 12, ...} or eval.json's 'samples/*'.
    best_modes: the most modes any earlier evaluation covered.
    num_modes: the toy mixture's number of modes (None on images).
  """
  modes, entropy = _score(scores, "modes"), _score(scores, "class_entropy")
  if modes is not None:
    if best_modes and modes < cfg.mode_drop * best_modes:
      return (f"samples cover {modes:g} modes, below {cfg.mode_drop:g} × the best so far "
              f"({best_modes:g}): G dropped modes it had")
    if num_modes and modes < cfg.mode_fraction * num_modes:
      return (f"samples cover {modes:g} of {num_modes} modes (< {cfg.mode_fraction:g} of "
              "them): G maps the latent onto a few modes")
  if entropy is not None and entropy < cfg.min_class_entropy:
    return (f"class entropy of samples is {entropy:.3g} nats (< {cfg.min_class_entropy:g}; "
            "log 10 = 2.303 when every digit appears): G produces few classes")
  return None


class GanMonitor:
  """The adversarial family's failure modes, over `train/*` scalars of each log interval."""

  def __init__(self, cfg, num_modes: int | None = None):
    """`cfg` is the `monitor` config section; `num_modes` that of a toy mixture."""
    self.cfg = cfg
    self.num_modes = num_modes
    self._episodes = _Episodes()
    self._history = {k: deque(maxlen=cfg.oscillation_window) for k in ("d_loss", "g_loss")}
    self._best_modes = 0.0

  def _fire(self, step, key, holds, patience, name, message) -> list[Alarm]:
    return [Alarm(step, name, message)] if self._episodes.check(key, holds, patience) else []

  def update(self, step: int, logged: dict) -> list[Alarm]:
    """Checks one log interval's scalars ('train/<name>': float); returns new alarms."""
    c, p = self.cfg, self.cfg.patience
    get = lambda name: logged.get(f"train/{name}")
    alarms = []
    d_fake, g_grad = get("d_fake"), get("g_grad_norm")
    alarms += self._fire(
        step, "vanishing_gradient",
        d_fake is not None and g_grad is not None
        and d_fake < c.vanish_d_fake and g_grad < c.vanish_g_grad, p, "vanishing_gradient",
        f"D rejects every fake (mean D(G(z)) < {c.vanish_d_fake:g}) and G's gradient "
        f"vanished (norm < {c.vanish_g_grad:g}) for {p} log intervals; the saturating "
        "log(1 − D(G(z))) loss does this: use the non-saturating −log D(G(z))")
    acc = get("d_accuracy")
    alarms += self._fire(
        step, "imbalance:d_wins", acc is not None and acc > c.imbalance_high, p, "imbalance",
        f"D wins: its accuracy stayed above {c.imbalance_high:g} for {p} log intervals, "
        "so G learns little (weaken D: lower d_lr, fewer D updates, a penalty)")
    alarms += self._fire(
        step, "imbalance:chance",
        acc is not None and abs(acc - 0.5) <= c.imbalance_low - 0.5, p, "imbalance",
        f"D is at chance: its accuracy stayed within [{1 - c.imbalance_low:g}, "
        f"{c.imbalance_low:g}] for {p} log intervals, so it gives G no learning signal "
        "(is D learning at all? check d_lr and its capacity)")
    swinging = []
    for name, history in self._history.items():
      if get(name) is not None:
        history.append(get(name))
      if len(history) == c.oscillation_window and _oscillates(
          history, c.oscillation_ratio, c.oscillation_swing):
        swinging.append(name)
    alarms += self._fire(
        step, "oscillation", bool(swinging), p, "oscillation",
        f"{' and '.join(swinging)} swing without converging over the last "
        f"{c.oscillation_window} log intervals (net change < {c.oscillation_ratio:g} × the "
        f"total variation, std > {c.oscillation_swing:g} × the level): the game does not "
        "settle (lower the learning rates, TTUR, a gradient penalty)")
    return alarms

  def update_samples(self, step: int, scores: dict) -> list[Alarm]:
    """Checks one evaluation's sample scores (modes or class entropy); returns new alarms."""
    why = sample_collapse(self.cfg, scores, self._best_modes, self.num_modes)
    modes = _score(scores, "modes")
    if modes is not None:
      self._best_modes = max(self._best_modes, modes)
    return self._fire(step, "mode_collapse", why is not None, self.cfg.mode_patience,
                      "mode_collapse", f"{why} for {self.cfg.mode_patience} evaluation(s)")



class LoopMonitor:
  """What the training loop calls: alarms to stderr and metrics.jsonl, sample scores.

  On resume the monitor's state is rebuilt by replaying the run's records up to
  the restored step (silently: those alarms are already in metrics.jsonl).
  """

  def __init__(self, exp, writer, start: int, feature_net=None):
    self._exp, self._writer = exp, writer
    points = exp.info["modality"] == "points"
    self._monitor = exp.family.monitor(
        exp.config.monitor, exp.info.get("num_classes") if points else None)
    self._toy = exp.config.data.name if points else None
    self._feature_net = feature_net
    self._real = None  # the real split of the sample scores, read once
    for record in read_metrics(writer.workdir):
      if record["step"] > start:
        continue  # written by an interrupted run; about to be recomputed
      if any(key.startswith("train/") for key in record):
        self._monitor.update(record["step"], record)
      if "test/modes" in record or "samples/class_entropy" in record:
        self._monitor.update_samples(record["step"], record)

  @classmethod
  def build(cls, exp, writer, start: int, feature_net=None):
    """A LoopMonitor, or None when the family has no monitor or it is off.

    Raises:
      UserError: in-loop sample scores on images are on but no feature net was given.
    """
    cfg = exp.config.get("monitor")
    if cfg is None or not cfg.enabled or exp.family.monitor is None:
      return None
    if (feature_net is None and exp.info["modality"] == "images"
        and cfg.get("sample_scores", False)):
      raise UserError("monitor.sample_scores scores image samples at every evaluation and "
                      "needs the dataset's feature net: pass train.run(..., feature_net=...) "
                      "(experiments.main does) or set --config.monitor.sample_scores=False")
    return cls(exp, writer, start, feature_net)

  def _report(self, alarms: list[Alarm]) -> None:
    for alarm in alarms:
      print(alarm.line(), file=sys.stderr, flush=True)
      self._writer.scalars(alarm.step, {f"alarm/{alarm.name}": 1.0})

  def log(self, step: int, logged: dict) -> None:
    """After each log interval."""
    self._report(self._monitor.update(step, logged))

  def evaluate(self, step: int, state) -> dict:
    """After each evaluation: sample scores, logged and checked for collapse.

    2-D toy sets: `test/modes`, `test/hq_fraction` of PacGAN's 2,500 samples. Images,
    when `monitor.sample_scores`: `samples/{dfid,class_entropy,precision,recall}` (and
    `class_accuracy` when conditional) of `eval.num_samples` samples, the protocol of
    experiments.evaluate, so training curves of dFID exist (e.g. WGAN's critic vs dFID).
    """
    import jax  # the loop has it loaded; the alarm rules above stay jax-free
    from genlab import data, metrics
    from genlab.evaluation.sampling import requested_labels
    from genlab.metrics.modes import PROTOCOL_SAMPLES, evaluate_toy
    exp = self._exp
    if self._toy is None and not exp.config.monitor.get("sample_scores", False):
      return {}
    num = PROTOCOL_SAMPLES if self._toy else exp.config.eval.num_samples
    rng = jax.random.fold_in(exp.rngs()["sample"], step)
    fake = exp.family.sample(exp, state, num, rng, None)
    if self._toy:
      toy = evaluate_toy(self._toy, fake)
      scores = {"test/modes": toy["modes"], "test/hq_fraction": toy["hq_fraction"]}
    else:
      if self._real is None:
        self._real = data.load_arrays(exp.config.data.name, metrics.REAL_SPLIT,
                                      exp.config.data.data_dir or None)[0]
      every = metrics.score_samples(exp.config, exp.info, fake, requested_labels(exp, num),
                                    feature_net=self._feature_net, real=self._real)
      scores = {k: v for k, v in every.items() if k in _LOOP_SAMPLE_KEYS}
    self._writer.scalars(step, scores)
    self._report(self._monitor.update_samples(step, scores))
    return scores


# What the loop logs of `genlab.metrics.score_samples` on images at each evaluation.
_LOOP_SAMPLE_KEYS = ("samples/dfid", "samples/class_entropy", "samples/precision",
                     "samples/recall", "samples/class_accuracy")
