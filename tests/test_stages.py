"""Networks that grow between stages: the loop grows them, checkpoints them at their
stage's shape, and a run interrupted in a later stage resumes bit-identically."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import load_config
from genlab import experiment, families, state as state_lib, train
from genlab.evaluation.classifier import evaluate as any_evaluator
from genlab.steps.base import StepFns, apply_gradients, regrow_opt_state, to_unit_float

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

STAGE_STEPS, NUM_STAGES, WIDTH = 10, 3, 16


def _layer(rng, fan_in):
  return {"w": jax.random.normal(rng, (fan_in, WIDTH)) / np.sqrt(fan_in),
          "b": jnp.zeros((WIDTH,))}


def _growing_make(model, config, info):
  """A toy autoencoder whose encoder gains one hidden layer per stage (0, 1, 2)."""
  del model
  size = int(np.prod(info["image_shape"]))
  tx = optax.adam(1e-2)

  def params_at(rng, stage):
    keys = jax.random.split(rng, NUM_STAGES + 1)
    layers = {f"layer_{k}": _layer(keys[k], size if k == 0 else WIDTH)
              for k in range(stage + 1)}
    return {**layers, "out": jax.random.normal(keys[-1], (WIDTH, size)) / np.sqrt(WIDTH)}

  def forward(params, x, stage):
    h = x.reshape(x.shape[0], -1)
    for k in range(stage + 1):
      h = jnp.tanh(h @ params[f"layer_{k}"]["w"] + params[f"layer_{k}"]["b"])
    return jax.nn.sigmoid(h @ params["out"]).reshape(x.shape)

  def loss(params, x, stage):
    return jnp.mean(jnp.square(forward(params, x, stage) - x))

  def init(rng, batch, stage=0):
    del batch
    params = params_at(rng, stage)
    return state_lib.create({"net": params}, {"net": tx.init(params)})

  def train_step(state, batch, rng, stage=0):
    del rng
    x = to_unit_float(batch["image"])
    value, grads = jax.value_and_grad(loss)(state.params["net"], x, stage)
    params, opt, norms = apply_gradients(tx, state.params["net"], state.opt_state["net"], grads)
    new = state.replace(step=state.step + 1, params={"net": params}, opt_state={"net": opt})
    return new, {"loss": value, "num_layers": jnp.float32(stage + 1), **norms}

  def eval_step(state, batch, rng, stage=0):
    del rng
    x = to_unit_float(batch["image"])
    err = jnp.square(forward(state.params["net"], x, stage) - x)
    return {"loss": jnp.mean(err.reshape(x.shape[0], -1), -1)}

  def visualize(state, batch, stage=0):
    return {"reconstruction": forward(state.params["net"], to_unit_float(batch["image"]), stage)}

  def grow(state, stage):
    # The new layer's weights come from a fixed key per stage: the same whether the run
    # was interrupted or not. Existing layers and their Adam moments carry over.
    new_layer = _layer(jax.random.key(1000 + stage), WIDTH)
    params = {**state.params["net"], f"layer_{stage}": new_layer}
    opt = regrow_opt_state(tx, state.opt_state["net"], params)
    return state.replace(params={"net": params}, opt_state={"net": opt})

  return StepFns(init=init, train_step=train_step, eval_step=eval_step, visualize=visualize,
                 stage_at=lambda step: min(step // STAGE_STEPS, NUM_STAGES - 1),
                 stages=tuple(range(NUM_STAGES)), grow=grow)


if "growing_toy" not in families.FAMILIES:
  families.register(families.StepFamily("growing_toy", _growing_make, any_evaluator))


def _config():
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.step_family = "growing_toy"
    config.data.name = "digits"
    config.data.eval_batch_size = 120
    t = config.train
    t.num_steps = NUM_STAGES * STAGE_STEPS
    t.log_every, t.eval_every, t.sample_every, t.checkpoint_every = 5, 15, 30, 5
    t.keep_checkpoints = 10
  config.lock()
  return config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("grow") / "a")
  return workdir, train.run(_config(), workdir)


def _leaves(workdir):
  _, state = experiment.restore(workdir)
  return jax.tree.leaves(jax.device_get(state))


def test_networks_grow_once_per_stage_and_compile_once(uninterrupted):
  workdir, result = uninterrupted
  assert result["step"] == NUM_STAGES * STAGE_STEPS
  assert result["compiles"] == {s: 1 for s in range(NUM_STAGES)}
  exp, state = experiment.restore(workdir)
  assert sorted(state.params["net"]) == ["layer_0", "layer_1", "layer_2", "out"]
  # Checkpoints hold the networks of the stage their next step trains.
  ckpts = sorted(int(d) for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit())
  assert ckpts == list(range(5, 31, 5))
  assert [exp.state_stage(s) for s in ckpts] == [0, 1, 1, 2, 2, 2]


def test_interrupted_growing_run_resumes_bit_identically(uninterrupted, tmp_path):
  workdir = str(tmp_path / "b")
  # Interrupted in the third stage (stage 2), after the checkpoint at its first step
  # (20), which holds the networks grown for it: the resume reads them in stage 2's shape.
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_config(), workdir, interrupt_at=22)
  result = train.run(_config(), workdir)
  assert result["step"] == NUM_STAGES * STAGE_STEPS
  for a, b in zip(_leaves(uninterrupted[0]), _leaves(workdir), strict=True):
    np.testing.assert_array_equal(a, b)
  assert result["test/loss"] == uninterrupted[1]["test/loss"]


def test_regrown_optimizer_state_keeps_old_moments():
  tx = optax.adam(0.1)
  params = {"a": jnp.ones(3)}
  opt = tx.init(params)
  _, opt = tx.update({"a": jnp.ones(3)}, opt, params)
  grown = regrow_opt_state(tx, opt, {"a": jnp.ones(3), "b": jnp.ones(2)})
  np.testing.assert_array_equal(grown[0].mu["a"], opt[0].mu["a"])
  np.testing.assert_array_equal(grown[0].mu["b"], jnp.zeros(2))
  assert int(grown[0].count) == 1


