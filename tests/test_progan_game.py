"""The 'progan' game: the stage schedule and fade-in, growth through the one loop, one
compile per stage, and a run killed mid-fade or just after a growth resuming exactly."""

import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from genlab import experiment, train
from genlab.errors import UserError
from genlab.evaluation import large_gans
from genlab.steps.progan import schedule
from genlab.writers import read_metrics

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

# On the 8×8 digits: two stages (4 and 8 px), a growth at step 6, a fade over steps 6-9.
STAGE_STEPS = (6, 8)


def test_schedule_fades_each_new_stage_in_linearly():
  stage_at, alpha = schedule((4, 6, 6), 0.5)
  assert [stage_at(s) for s in range(16)] == [0] * 4 + [1] * 6 + [2] * 6
  assert float(alpha(2, 0)) == 1.0  # stage 0 has nothing to fade
  # Stage 1 starts at step 4 and fades over 3 steps: 0, 1/3, 2/3, then 1.
  np.testing.assert_allclose([float(alpha(s, 1)) for s in range(4, 10)],
                             [0, 1 / 3, 2 / 3, 1, 1, 1], rtol=1e-6)
  assert float(alpha(jnp.int32(11), 2)) == pytest.approx(1 / 3)  # a traced step works
  _, no_fade = schedule((4, 6), 0.0)
  assert float(no_fade(4, 1)) == 1.0


def _config(**overrides):
  config = load_config("progan", "smoke")
  with config.unlocked():
    config.data.name = "digits"
    config.model.g_channels = config.model.d_channels = (16, 8)
    config.progan.stage_steps = STAGE_STEPS
    t = config.train
    t.num_steps = sum(STAGE_STEPS)
    t.log_every, t.eval_every, t.sample_every, t.checkpoint_every = 2, 14, 14, 1
    t.keep_checkpoints = 30
    config.eval.num_samples = 0
    config.monitor.sample_scores = False
    for key, value in overrides.items():
      node, *path = key.split(".")
      target = config[node]
      for part in path[:-1]:
        target = target[part]
      target[path[-1]] = value
  config.lock()
  return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("progan") / "a")
  return workdir, train.run(_config(), workdir)


def test_networks_grow_per_stage_and_each_stage_compiles_once(uninterrupted):
  workdir, result = uninterrupted
  assert result["step"] == sum(STAGE_STEPS)
  assert result["compiles"] == {0: 1, 1: 1}
  exp, state = experiment.restore(workdir)
  assert sorted(k for k in state.params["g"] if k.startswith("to_rgb")) == [
      "to_rgb_0", "to_rgb_1"]
  assert sorted(k for k in state.extra["ema"]["g"]["params"] if k.startswith("to_rgb")) == [
      "to_rgb_0", "to_rgb_1"]
  # Full-size samples at the end, in [0, 1].
  z = exp.fns.sampler.latents(jax.random.key(0), 4, sampling=True)
  images = np.asarray(exp.fns.generate(state, z, None))
  assert images.shape == (4, 8, 8, 1) and 0 <= images.min() and images.max() <= 1


def test_alpha_is_logged_and_follows_the_schedule(uninterrupted):
  workdir, _ = uninterrupted
  records = [r for r in read_metrics(workdir) if "train/alpha" in r]
  # Steps 7 and 8 (0-based 6 and 7) are stage 1's first two: α = 0 and 1/4, averaged.
  at = {r["step"]: r["train/alpha"] for r in records}
  assert at[8] == pytest.approx((0 + 1 / 4) / 2)
  assert at[14] == pytest.approx(1.0)


@pytest.mark.parametrize("killed_at", [6, 8])  # just after growing; mid-fade
def test_a_killed_run_resumes_bit_identically(uninterrupted, tmp_path, killed_at):
  workdir = str(tmp_path / "b")
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_config(), workdir, interrupt_at=killed_at)
  result = train.run(_config(), workdir)
  assert result["compiles"] == {1: 1}  # it resumes in stage 1, with grown networks
  _, a = experiment.restore(uninterrupted[0])
  _, b = experiment.restore(workdir)
  for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)),
                  strict=True):
    np.testing.assert_array_equal(x, y)


def test_stage_steps_must_cover_the_run():
  with pytest.raises(UserError, match="stage_steps needs 2 entries"):
    experiment.build(_config(**{"progan.stage_steps": (4, 6, 4)}))
  with pytest.raises(UserError, match="must equal the sum"):
    experiment.build(_config(**{"train.num_steps": 13}))


def test_report_takes_each_stages_last_score_and_grid(tmp_path):
  stage_at, _ = schedule((4, 6, 6), 0.5)
  exp = types.SimpleNamespace(fns=types.SimpleNamespace(stages=(0, 1, 2), stage_at=stage_at))
  # Scores at steps 2, 4 (end of stage 0), 8, 10 (end of 1) and 14 (stage 2 unfinished).
  records = [{"step": s, "samples/dfid": 100.0 - s, "samples/class_entropy": s / 10}
             for s in (2, 4, 8, 10, 14)] + [{"step": 12, "train/loss": 1.0}]
  scores = large_gans.stage_scores(exp, records)
  assert scores == {"stages/step_s0": 4, "stages/dfid_s0": 96.0, "stages/class_entropy_s0": 0.4,
                    "stages/step_s1": 10, "stages/dfid_s1": 90.0, "stages/class_entropy_s1": 1.0,
                    "stages/step_s2": 14, "stages/dfid_s2": 86.0, "stages/class_entropy_s2": 1.4}
  os.makedirs(tmp_path / "samples")
  for step in (3, 4, 9, 16):
    (tmp_path / "samples" / f"samples_{step:07d}.png").write_bytes(b"")
  grids = large_gans.stage_grids(exp, str(tmp_path))
  assert sorted(grids.values()) == [f"samples/samples_{s:07d}.png" for s in (4, 9, 16)]
  one_stage = types.SimpleNamespace(fns=types.SimpleNamespace(stages=(0,), stage_at=stage_at))
  assert large_gans.stage_scores(one_stage, records) == {}
