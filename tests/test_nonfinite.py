"""`train.on_nonfinite`: stop, skip or roll back when the loss, gradients or state go NaN
(genlab.nonfinite); NaN is injected with genlab.faults' `STEP:nan` hook or a diverging
learning rate."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import saved_steps
from genlab import experiment, faults, guards, nonfinite, train
from genlab.errors import UserError
from genlab.writers import read_metrics
from test_guards import _ae


@pytest.fixture
def nan_at(monkeypatch):
  monkeypatch.setattr(faults, "_poisoned", set())
  return lambda step: monkeypatch.setenv("GENLAB_FAULT", f"{step}:nan")


def _config(policy: str, **train_fields):
  fields = dict(num_steps=20, log_every=5, checkpoint_every=5, keep_checkpoints=5)
  return _ae(**{**fields, **train_fields, "on_nonfinite": policy})


@pytest.mark.slow  # a real training run
def test_nan_at_step_k_stops_at_the_end_of_its_interval_and_keeps_finite_checkpoints(
    tmp_path, nan_at):
  nan_at(12)
  workdir = str(tmp_path / "w")
  with pytest.raises(guards.NonFiniteError,
                     match=r"^step 15: train/\w+ is NaN or infinite .*newest checkpoint "
                           r"\(step 10\) is kept.*on_nonfinite=skip or rollback"):
    train.run(_config("stop"), workdir)
  assert saved_steps(workdir) == [5, 10]
  _, state = experiment.restore(workdir)
  assert int(state.step) == 10 and guards.all_finite(state)
  assert max(r["step"] for r in read_metrics(workdir)) == 15


@pytest.mark.slow  # a real training run
def test_rollback_restores_the_newest_checkpoint_at_a_lower_learning_rate(
    tmp_path, nan_at, capsys):
  nan_at(12)
  workdir = str(tmp_path / "w")
  config = _config("rollback", rollback_factor=0.25)
  assert train.run(config, workdir)["step"] == 20
  err = capsys.readouterr().err
  assert "step 15: train/" in err and "rolling back to the newest checkpoint, learning " \
      "rate × 0.25 (rollback 1 of 3)" in err
  _, state = experiment.restore(workdir)
  assert nonfinite.lr_scale(state) == 0.25 and guards.all_finite(state)
  steps = [r["step"] for r in read_metrics(workdir) if "train/loss" in r]
  assert steps == [5, 10, 15, 20]  # the NaN record of step 15 was replaced
  assert all(np.isfinite(r["train/loss"]) for r in read_metrics(workdir) if "train/loss" in r)
  # The lowered rate is in the checkpoint: the same update as a run at lr × 0.25 from 10.


@pytest.mark.slow  # a real training run
def test_rollback_gives_up_after_max_rollbacks(tmp_path):
  config = _config("rollback", max_rollbacks=2)
  with config.unlocked():
    config.optim.learning_rate = 1e30  # diverges at every rate a rollback tries
  with pytest.raises(guards.NonFiniteError, match="NaN or infinite"):
    train.run(config, str(tmp_path / "w"))


def test_skip_drops_a_nonfinite_update_and_keeps_the_rest():
  config = _config("skip")
  exp = experiment.build(config)
  step = jax.jit(nonfinite.skipping(exp.fns.train_step), static_argnames="stage")
  state, rng = exp.init_state(), exp.rngs()["train"]
  batch = {k: v[:32] for k, v in exp.train.items()}
  before = jax.device_get(state)
  # A traced learning rate of inf makes this step's update (not its inputs) non-finite.
  bad, metrics = step(state, batch, rng, stage=0, hparams={"optim.learning_rate": jnp.inf})
  assert float(metrics["skipped"]) == 1.0 and float(metrics["loss"]) == 0.0
  assert int(bad.step) == 1
  for a, b in zip(jax.tree.leaves(before.params), jax.tree.leaves(bad.params)):
    np.testing.assert_array_equal(a, b)
  good, metrics = step(bad, batch, rng, stage=0)
  assert float(metrics["skipped"]) == 0.0 and float(metrics["loss"]) > 0
  assert int(good.step) == 2 and guards.all_finite(good)
  assert any(not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(before.params), jax.tree.leaves(good.params)))


@pytest.mark.slow  # a real training run
def test_skip_means_are_over_kept_steps_and_a_dead_interval_stops(tmp_path, nan_at):
  means = nonfinite.interval_means([{"loss": 2.0, "skipped": 0.0}, {"loss": 0.0, "skipped": 1.0},
                                    {"loss": 4.0, "skipped": 0.0}])
  assert means == {"loss": 3.0, "skipped": 1.0}
  # A NaN state after step 7 cannot be skipped away: steps 8, 9, 10 are dropped, then all.
  nan_at(7)
  workdir = str(tmp_path / "w")
  with pytest.raises(guards.NonFiniteError, match=r"^step 15: all of the last 5 steps were "
                                                  r"non-finite and skipped.*on_nonfinite=rollback$"):
    train.run(_config("skip", checkpoint_every=1000, sample_every=1000), workdir)
  logged = {r["step"]: r for r in read_metrics(workdir) if "train/loss" in r}
  assert [logged[s]["train/skipped"] for s in (5, 10, 15)] == [0, 3, 5]
  assert np.isfinite(logged[10]["train/loss"])
  assert saved_steps(workdir) == []


@pytest.mark.parametrize("field, value, message", [
    ("on_nonfinite", "ignore", "train.on_nonfinite must be one of stop, skip, rollback"),
    ("rollback_factor", 1.5, "train.rollback_factor must be in (0, 1)"),
    ("max_rollbacks", 0, "train.max_rollbacks must be at least 1"),
])
def test_bad_policies_are_refused_before_the_workdir_is_touched(tmp_path, field, value,
                                                                message):
  workdir = str(tmp_path / "w")
  with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
    train.run(_ae(**{field: value}), workdir)
  assert not os.path.exists(workdir)
