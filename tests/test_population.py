"""Populations (genlab.population): K runs in one vmapped step, each written as its own run."""

import json
import os

import numpy as np
import pytest

from conftest import load_config
from genlab import experiment, population, train
from genlab.errors import UserError
from genlab.writers import read_metrics


def _ae(**overrides):
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120  # 8×8: fast
    config.model.hidden = (32,)
    for key, value in overrides.items():
      node = config
      *path, last = key.split(".")
      for part in path:
        node = node[part]
      node[last] = value
  return config


def _curves(workdir):
  """Every logged metric but the wall-clock rate, by step."""
  return {r["step"]: {k: v for k, v in r.items() if k not in ("step", "train/steps_per_sec")}
          for r in read_metrics(workdir)}


def _assert_same_run(member_dir, alone_dir):
  member, alone = _curves(member_dir), _curves(alone_dir)
  assert sorted(member) == sorted(alone) and member
  for step in alone:
    assert sorted(member[step]) == sorted(alone[step])
    for key, value in alone[step].items():
      # vmapped kernels may sum in another order than the unbatched ones
      assert member[step][key] == pytest.approx(value, rel=1e-5, abs=1e-7), (step, key)
  with open(os.path.join(member_dir, "config.json")) as f:
    member_config = json.load(f)
  with open(os.path.join(alone_dir, "config.json")) as f:
    assert member_config == json.load(f)  # the member is the run, config and all


@pytest.mark.slow  # eleven small training runs: make test, not test-fast
def test_population_members_equal_separate_runs(tmp_path):
  k = 8
  result = train.run(_ae(population=k), str(tmp_path / "pop"))
  assert result["compiles"] == {0: 1}  # one vmapped step for all eight
  names = sorted(os.listdir(tmp_path / "pop"))
  assert names == sorted(["config.json", "run.lock"] + [f"seed={s}" for s in range(k)])
  for seed in (0, 3, 7):
    alone = str(tmp_path / f"alone{seed}")
    train.run(_ae(seed=seed), alone)
    _assert_same_run(str(tmp_path / "pop" / f"seed={seed}"), alone)
  # The seeds differ, so the members do.
  finals = {read_metrics(str(tmp_path / "pop" / f"seed={s}"))[-1]["test/mse"] for s in range(k)}
  assert len(finals) == k
  # A member restores as the run it is.
  exp, state = experiment.restore(str(tmp_path / "pop" / "seed=3"))
  assert exp.config.seed == 3 and int(state.step) == 20


def test_population_sweep_of_a_learning_rate(tmp_path):
  config = _ae(population=2, population_sweep="optim.learning_rate=0.003,0.0003")
  train.run(config, str(tmp_path / "pop"))
  member = tmp_path / "pop" / "learning_rate=0.0003,seed=1"
  train.run(_ae(seed=1, **{"optim.learning_rate": 3e-4}), str(tmp_path / "alone"))
  _assert_same_run(str(member), str(tmp_path / "alone"))


def test_a_resumed_population_continues_every_member(tmp_path):
  config = _ae(population=2)
  with config.unlocked():
    config.train.checkpoint_every = 10
  with pytest.raises(train.SimulatedInterrupt):
    train.run(config, str(tmp_path / "pop"), interrupt_at=10)
  # A kill between the members' saves: member 1 lost its step-10 checkpoint.
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.rmtree(tmp_path / "pop" / "seed=1" / "checkpoints" / "10")
  train.run(config, str(tmp_path / "pop"))
  train.run(_ae(population=2), str(tmp_path / "straight"))
  for seed in (0, 1):
    a = _curves(str(tmp_path / "pop" / f"seed={seed}"))
    b = _curves(str(tmp_path / "straight" / f"seed={seed}"))
    assert a.keys() == b.keys() and a[20] == pytest.approx(b[20], rel=1e-6)


@pytest.mark.parametrize("overrides, message", [
    ({"population": 2, "population_sweep": "optim.learning_rate=1e-3"}, "gives 1 values"),
    ({"population": 2, "population_sweep": "optim.nope=1,2"}, "not a config field"),
    ({"population": 2, "population_sweep": "optim.name=1,2"}, "not a number"),
    ({"population": 2, "population_sweep": "learning_rate"}, "is not KEY=v1,v2"),
    ({"population_sweep": "optim.learning_rate=1e-3"}, "needs population > 1"),
    ({"population": 0}, "at least 1"),
])
def test_bad_populations_are_user_errors(tmp_path, overrides, message):
  with pytest.raises(UserError, match=message):
    population.members(_ae(**overrides), str(tmp_path))


def test_an_untraceable_swept_key_is_refused_before_training(tmp_path):
  config = _ae(population=2, population_sweep="model.code_size=8,16")
  with pytest.raises(UserError, match="not read by this step"):
    train.run(config, str(tmp_path / "pop"))


def test_a_single_runs_config_json_has_no_population_fields(tmp_path):
  text = experiment.config_to_json(_ae())
  assert "population" not in text
  assert json.loads(experiment.config_to_json(_ae(population=3)))["population"] == 3
  np.testing.assert_equal(population.size(_ae()), 1)
