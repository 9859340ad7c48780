"""A four-player game through the real entry points: CycleGAN's G_ab, G_ba, D_a, D_b on
unpaired two-domain digits, killed after a checkpoint, resumed, evaluated."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO_ROOT, kill_after_first_checkpoint, load_config
from genlab import experiment, families, train
from genlab.steps.base import Hparams

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

_STEPS = 200
# With history pools (the toy's default has none), so the kill and resume covers them.
_OVERRIDES = {"train.num_steps": _STEPS, "train.checkpoint_every": 10,
              "train.eval_every": _STEPS, "train.sample_every": _STEPS,
              "cycle.pool_size": 40}


def _config():
  config = load_config("cyclegan", "toy,smoke")
  with config.unlocked():
    for key, value in _OVERRIDES.items():
      section, name = key.split(".")
      config[section][name] = value
  config.lock()
  return config


def _command(workdir):
  return [sys.executable, "-m", "experiments.main", "--config=experiments/configs/cyclegan.py:toy,smoke",
          f"--workdir={workdir}", *[f"--config.{k}={v}" for k, v in _OVERRIDES.items()]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("cycle") / "a")
  return workdir, train.run(_config(), workdir)


def test_four_players_each_have_their_own_network_and_optimizer(uninterrupted):
  workdir, result = uninterrupted
  assert result["compiles"] == {0: 1}
  _, state = experiment.restore(workdir)
  players = {"g_ab", "g_ba", "d_a", "d_b"}
  assert set(state.params) == set(state.opt_state) == players
  for d in ("d_a", "d_b"):  # each D's pool is its own, full after 200 steps of 32
    assert state.model_state[d]["pool"]["images"].shape == (40, 8, 8, 1)
    assert int(state.model_state[d]["pool"]["count"]) == 40
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    logged = set().union(*(json.loads(line) for line in f))
  for name in players:
    assert f"train/{name}_loss" in logged and f"train/{name}_grad_norm" in logged
  assert {"train/cycle_a", "train/cycle_b", "test/cycle_a", "test/d_b_loss"} <= logged


def test_each_generator_loss_runs_both_generators():
  config = _config()
  exp = experiment.build(config)
  state = exp.init_state()
  game = families.GAMES.get("cycle")(exp.model, config, exp.info)
  batch = exp.example_batch()
  inputs = {**game.prepare(batch, None), "hp": Hparams(config, None, game.hparams)}
  g_ab = next(p for p in game.players if p.name == "g_ab")
  # G_ab's cycle term runs G_ba: its loss moves with G_ba's params.
  loss = lambda params: g_ab.loss(params, {}, inputs, jax.random.key(0), 0)[0]
  zeroed = {**state.params, "g_ba": jax.tree.map(np.zeros_like, state.params["g_ba"])}
  assert float(loss(state.params)) != float(loss(zeroed))


def test_killed_run_resumes_bit_identically_and_evaluates(uninterrupted, tmp_path):
  workdir = str(tmp_path / "b")
  killed_at = kill_after_first_checkpoint(_command(workdir), workdir)
  assert killed_at and killed_at[-1] < _STEPS, "the run finished before it could be killed"

  rerun = subprocess.run(_command(workdir), cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
  assert rerun.returncode == 0, rerun.stderr[-2000:]
  assert any(ln.startswith("resumed from step") for ln in rerun.stderr.splitlines())
  _, resumed = experiment.restore(workdir)
  _, reference = experiment.restore(uninterrupted[0])
  for a, b in zip(jax.tree.leaves(jax.device_get(reference)),
                  jax.tree.leaves(jax.device_get(resumed)), strict=True):
    np.testing.assert_array_equal(a, b)

  evaluated = subprocess.run([sys.executable, "-m", "experiments.evaluate",
                              f"--workdir={workdir}"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=300)
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  with open(os.path.join(workdir, "eval.json")) as f:
    scores = json.load(f)
  assert scores["step"] == _STEPS
  assert scores["model/params"] == sum(scores[f"model/{p}_params"]
                                       for p in ("g_ab", "g_ba", "d_a", "d_b"))
  assert scores["test/loss"] == pytest.approx(scores["test/cycle_a"] + scores["test/cycle_b"])
  assert scores["test/loss"] == pytest.approx(uninterrupted[1]["test/loss"], rel=1e-6)
  assert os.path.exists(os.path.join(workdir, "report", "translations.png"))
