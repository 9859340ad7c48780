"""The GAN health monitor: each alarm on constructed metric sequences, then real runs."""

import math
import os

import numpy as np
import pytest

from experiments.configs import presets
from genlab import experiment, monitor, train
from genlab.evaluation import report
from genlab.writers import MetricWriter, read_metrics


def _cfg(**overrides):
  c = presets.gan().monitor
  for key, value in overrides.items():
    c[key] = value
  return c


def _feed(mon, sequence, start=1):
  """update() on each dict of `sequence` ({name: value} without 'train/'); {step: alarms}."""
  out = {}
  for i, values in enumerate(sequence, start):
    alarms = mon.update(i, {f"train/{k}": v for k, v in values.items()})
    if alarms:
      out[i] = alarms
  return out


def _names(fired):
  return {step: [a.name for a in alarms] for step, alarms in fired.items()}


# ------------------------------------------------------------ vanishing gradient


def test_vanishing_gradient_after_patience_once_per_episode():
  mon = monitor.GanMonitor(_cfg(patience=3))
  dead = {"d_fake": 0.01, "g_grad_norm": 1e-3, "d_accuracy": 0.9}
  healthy = {"d_fake": 0.4, "g_grad_norm": 1.0, "d_accuracy": 0.9}
  fired = _feed(mon, [dead, dead, dead, dead, healthy, dead, dead, dead])
  # Fires when the 3rd consecutive interval holds, not before, not again while held,
  # and again after the condition cleared.
  assert _names(fired) == {3: ["vanishing_gradient"], 8: ["vanishing_gradient"]}
  alarm = fired[3][0]
  assert alarm.step == 3 and "non-saturating" in alarm.message
  assert alarm.line().startswith("alarm at step 3: vanishing_gradient: ")


def test_non_saturating_loss_with_a_winning_d_is_not_vanishing():
  # Same D verdict, but G still gets a gradient of order 1: no vanishing alarm.
  mon = monitor.GanMonitor(_cfg())
  fired = _feed(mon, [{"d_fake": 0.001, "g_grad_norm": 1.4, "d_accuracy": 0.9}] * 30)
  assert fired == {}


# ------------------------------------------------------------ imbalance


@pytest.mark.parametrize("accuracy,phrase", [(0.995, "D wins"), (0.5, "D is at chance"),
                                             (0.485, "D is at chance")])
def test_imbalance_names_the_side(accuracy, phrase):
  mon = monitor.GanMonitor(_cfg())
  fired = _feed(mon, [{"d_accuracy": accuracy}] * 7)
  assert _names(fired) == {5: ["imbalance"]}
  assert phrase in fired[5][0].message


def test_balanced_accuracy_raises_nothing():
  rs = np.random.RandomState(0)
  mon = monitor.GanMonitor(_cfg())
  assert _feed(mon, [{"d_accuracy": a} for a in rs.uniform(0.6, 0.9, 100)]) == {}
  # Interrupting a streak restarts the count.
  mon = monitor.GanMonitor(_cfg())
  streak = [{"d_accuracy": 0.99}] * 4 + [{"d_accuracy": 0.8}]
  assert _feed(mon, streak * 5) == {}


# ------------------------------------------------------------ oscillation


def _losses(d_loss, g_loss=None):
  g_loss = d_loss if g_loss is None else g_loss
  return [{"d_loss": d, "g_loss": g, "d_accuracy": 0.7} for d, g in zip(d_loss, g_loss)]


def test_noisy_converging_loss_does_not_oscillate():
  rs = np.random.RandomState(0)
  t = np.arange(300)
  # Log-interval means: a decaying loss that settles, plus noise of 3 % of its level.
  d_loss = 1.3 + 0.8 * np.exp(-t / 40) + rs.normal(0, 0.04, t.shape)
  g_loss = 0.8 + 2.0 * np.exp(-t / 20) + rs.normal(0, 0.03, t.shape)
  assert _feed(monitor.GanMonitor(_cfg()), _losses(d_loss, g_loss)) == {}
  # Noise of 10 % of the level, from 3 down to a plateau at 0.5: no alarm either.
  falling = 0.5 + 2.5 * np.exp(-t[:150] / 30)
  falling = falling + rs.normal(0, 0.1, 150) * falling
  assert _feed(monitor.GanMonitor(_cfg()), _losses(falling)) == {}


def test_persistent_swing_oscillates_after_window_and_patience():
  c = _cfg()
  t = np.arange(60)
  d_loss = 1.0 + 0.5 * np.sin(2 * math.pi * t / 6)  # swings by half its level, no trend
  g_loss = np.full(60, 0.7)
  fired = _feed(monitor.GanMonitor(c), _losses(d_loss, g_loss))
  first = c.oscillation_window + c.patience - 1  # window full, then `patience` holds
  assert _names(fired) == {first: ["oscillation"]}
  assert "d_loss swing" in fired[first][0].message


def test_growing_swing_oscillates():
  t = np.arange(80)
  g_loss = 1.0 + 0.02 * t * np.sin(2 * math.pi * t / 5)
  fired = _feed(monitor.GanMonitor(_cfg()), _losses(np.full(80, 1.2), g_loss))
  assert [a.name for alarms in fired.values() for a in alarms] == ["oscillation"]
  assert "g_loss" in next(iter(fired.values()))[0].message


# ------------------------------------------------------------ mode collapse


def test_mode_drop_against_the_best_so_far():
  mon = monitor.GanMonitor(_cfg(mode_patience=2), num_modes=25)
  seen = {}
  for step, modes in zip(range(1, 7), [10, 20, 22, 15, 14, 21]):
    seen[step] = mon.update_samples(step, {"test/modes": modes, "test/hq_fraction": 0.8})
  # 15 < 0.8 × 22 twice in a row -> one alarm at the second evaluation.
  assert {s: [a.name for a in v] for s, v in seen.items() if v} == {5: ["mode_collapse"]}
  assert "best so far (22)" in seen[5][0].message


def test_few_modes_and_low_class_entropy():
  mon = monitor.GanMonitor(_cfg(mode_patience=1), num_modes=25)
  assert [a.name for a in mon.update_samples(1, {"test/modes": 3})] == ["mode_collapse"]
  mon = monitor.GanMonitor(_cfg(mode_patience=1))
  assert mon.update_samples(1, {"samples/class_entropy": 2.2}) == []
  alarms = mon.update_samples(2, {"samples/class_entropy": 0.9})
  assert [a.name for a in alarms] == ["mode_collapse"] and "class entropy" in alarms[0].message


def test_families_name_their_monitor():
  from genlab import families  # pylint: disable=import-outside-toplevel
  assert families.get("adversarial").monitor is monitor.GanMonitor
  assert families.get("reconstruction").monitor is None


def test_loop_monitor_scores_toy_samples(tmp_path):
  config = presets.gan()
  config.data.name = "grid25"
  config.model.latent_size, config.model.g_hidden, config.model.d_hidden = 2, (16,), (16,)
  exp = experiment.build(config)
  writer = MetricWriter(str(tmp_path))
  try:
    scores = monitor.LoopMonitor.build(exp, writer, 0).evaluate(7, exp.init_state())
  finally:
    writer.close()
  assert 0 <= scores["test/modes"] <= 25 and 0 <= scores["test/hq_fraction"] <= 1
  assert read_metrics(str(tmp_path)) == [{"step": 7, **{k: float(v) for k, v in scores.items()}}]


# ------------------------------------------------------------ a failing real run


def _failing_config():
  """The minimax loss with D 300× faster than G on mnist5k: D wins within 10 steps."""
  c = presets.gan()
  c.data.batch_size = 64
  c.model.latent_size, c.model.g_hidden, c.model.d_hidden = 8, (32,), (32,)
  c.gan.loss, c.optim.d.learning_rate, c.optim.g.learning_rate = "minimax", 3e-3, 1e-5
  # The alarms under test read the step metrics; sample scores would train the full-size
  # feature net in a fresh clone (~4 CPU-minutes).
  c.monitor.sample_scores = False
  t = c.train
  t.num_steps, t.log_every, t.eval_every, t.sample_every, t.checkpoint_every = 40, 5, 40, 40, 20
  return c


@pytest.mark.slow
def test_failing_run_logs_alarms_and_resumes_them(tmp_path, capsys):
  workdir = str(tmp_path / "run")
  # Interrupted after step 25: the alarms need 5 intervals (10..30), the checkpoint
  # is at 20, so the resumed run only raises them at 30 if it replayed 10..20.
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_failing_config(), workdir, interrupt_at=25)
  assert "alarm at step" not in capsys.readouterr().err
  train.run(_failing_config(), workdir)
  err = capsys.readouterr().err
  records = read_metrics(workdir)
  alarms = {k: r["step"] for r in records for k in r if k.startswith("alarm/")}
  assert alarms == {"alarm/vanishing_gradient": 30, "alarm/imbalance": 30}
  assert err.count("alarm at step 30: vanishing_gradient: ") == 1
  assert err.count("alarm at step 30: imbalance: D wins") == 1

  path = report.write(workdir, _failing_config(), {"step": 40}, {})
  with open(path) as f:
    text = f.read()
  assert "## GAN health" in text and "| `vanishing_gradient` | 30 |" in text
  assert os.path.exists(os.path.join(workdir, "report.md"))
