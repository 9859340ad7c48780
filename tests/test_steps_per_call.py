"""train.steps_per_call = K: K steps fused in one compiled call (a lax.scan) train the
run that K separate calls train, log the same records, resume exactly, and refuse
cadences that are not multiples of K."""

import jax
import numpy as np
import pytest

from conftest import load_config
from genlab import experiment, guards, train
from genlab.data import pipeline
from genlab.errors import UserError
from genlab.writers import read_metrics

pytestmark = pytest.mark.slow  # real (small) training runs


def _ae(per_call: int, **overrides):
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120  # 8×8: fast
    config.model.hidden = (32,)
    config.train.steps_per_call = per_call
    for key, value in overrides.items():
      section, field = key.split(".")
      config[section][field] = value
  return config


def _records(workdir):
  return [{k: v for k, v in r.items() if k != "train/steps_per_sec"}
          for r in read_metrics(workdir)]


def _assert_close_runs(a, b, rel=1e-5):
  ra, rb = _records(a), _records(b)
  assert [sorted(r) for r in ra] == [sorted(r) for r in rb] and ra
  for x, y in zip(ra, rb):
    for key, value in x.items():
      assert y[key] == pytest.approx(value, rel=rel, abs=1e-7), (x["step"], key)


def test_fused_steps_train_the_same_run(tmp_path):
  one = train.run(_ae(1), str(tmp_path / "k1"))
  five = train.run(_ae(5), str(tmp_path / "k5"))
  assert five["compiles"] == {0: 1} and five["step"] == one["step"] == 20
  # Same batches, same rngs, same updates: the same curves and parameters (a scan's
  # body may fuse differently, hence a tolerance rather than bit equality).
  _assert_close_runs(str(tmp_path / "k1"), str(tmp_path / "k5"))
  _, s1 = experiment.restore(str(tmp_path / "k1"))
  _, s5 = experiment.restore(str(tmp_path / "k5"))
  for x, y in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s5.params)):
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-5, atol=1e-6)


def test_fused_run_resumes_bitwise(tmp_path):
  full = str(tmp_path / "full")
  train.run(_ae(5), full)
  cut = str(tmp_path / "cut")
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_ae(5), cut, interrupt_at=15)  # after the checkpoint at 10
  train.run(_ae(5), cut)
  assert _records(cut) == _records(full)
  _, a = experiment.restore(full)
  _, b = experiment.restore(cut)
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_fused_population_equals_unfused(tmp_path):
  train.run(_population(5), str(tmp_path / "p5"))
  train.run(_population(1), str(tmp_path / "p1"))
  for seed in (0, 1):
    _assert_close_runs(str(tmp_path / "p1" / f"seed={seed}"),
                       str(tmp_path / "p5" / f"seed={seed}"))


def _population(per_call):
  config = _ae(per_call)
  with config.unlocked():
    config.population = 2
  return config


def test_cadence_must_divide_by_steps_per_call():
  with pytest.raises(UserError, match=r"train.log_every=5 is not a multiple of "
                                      r"train.steps_per_call=2"):
    guards.validate(_ae(2))
  with pytest.raises(UserError, match="steps_per_call must be at least 1"):
    guards.validate(_ae(0))


def test_staged_models_and_odd_resume_points_are_refused(tmp_path):
  config = load_config("stacked_ae", "layerwise,smoke")
  with config.unlocked():
    config.train.steps_per_call = 5
  with pytest.raises(UserError, match="needs a model trained in one stage"):
    train.run(config, str(tmp_path / "staged"))
  workdir = str(tmp_path / "odd")
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_ae(1, **{"train.checkpoint_every": 5}), workdir, interrupt_at=5)
  # Resumable field: a rerun may change steps_per_call, but step 5 is no multiple of 10.
  with pytest.raises(UserError, match="resumes at step 5, not a multiple"):
    train.run(_ae(10, **{"train.checkpoint_every": 10, "train.log_every": 10}), workdir)


def test_chunks_stack_consecutive_batches():
  split = {"image": np.arange(40).reshape(40, 1), "label": np.arange(40)}
  batches = pipeline.train_batches(split, 4, seed=3)
  chunk = pipeline.Chunks(batches, 3)[2]
  assert chunk["image"].shape == (3, 4, 1)
  for i in range(3):
    np.testing.assert_array_equal(chunk["label"][i], batches[6 + i]["label"])
