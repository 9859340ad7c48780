"""The adversarial step family's 'gan' game: G/D players, n_critic, TTUR, EMA (with its own
batch statistics), D regularizers, batch stats, the game's own eval losses."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import presets
from genlab import experiment, families, models, train
from genlab.data import toy
from genlab.models.gan import GAN
from genlab.steps import adversarial

POINTS_INFO = {"image_shape": (2,), "modality": "points", "num_classes": 25}
BATCH = 16


def _fake_mean_loss(model, config):
  """A test generator term: the mean of the fakes (checks the aux-loss hook)."""
  del model, config
  return lambda params, batch, fake, rng: jnp.mean(fake)


if "test_fake_mean" not in adversarial.AUX_G_LOSSES:
  adversarial.AUX_G_LOSSES.register("test_fake_mean", _fake_mean_loss)


def _config(data_name="grid25", g_lr=None, d_lr=None, d_optimizer=None, **gan):
  """presets.gan() with tiny networks; `gan` overrides fields of the gan section, the
  others the players' optim sections."""
  c = presets.gan()
  c.data.name = data_name
  c.data.batch_size, c.data.eval_batch_size = BATCH, 500
  c.model.latent_size, c.model.g_hidden, c.model.d_hidden = 4, (16,), (16,)
  for key, value in gan.items():
    c.gan[key] = value
  if g_lr is not None:
    c.optim.g.learning_rate = g_lr
  if d_lr is not None:
    c.optim.d.learning_rate = d_lr
  if d_optimizer is not None:
    c.optim.d.name = d_optimizer
  return c


def _points_batch(seed=0):
  points, modes = toy.sample("grid25", BATCH, seed=seed)
  return {"image": jnp.asarray(points), "label": jnp.asarray(modes)}


def _fns(config, model=None):
  model = model or models.build(config.model, POINTS_INFO)
  return families.make_fns(config, model, POINTS_INFO)


def _init_and_step(fns, num_steps=1, seed=0):
  """(initial state, state after `num_steps`, last metrics) on toy batches."""
  state0 = jax.jit(fns.init)(jax.random.key(1), _points_batch())
  step = jax.jit(fns.train_step)
  state, metrics = state0, None
  for i in range(num_steps):
    state, metrics = step(state, _points_batch(seed + i), jax.random.key(2))
  return state0, state, jax.device_get(metrics)


def _adam_count(opt_state) -> int:
  return int(opt_state[0].count)  # optax.adam = chain(scale_by_adam, scale_by_lr)


def _changed(a, b) -> bool:
  return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


# ------------------------------------------------------------------ build

_EVAL_KEYS = ("d_real", "d_fake", "d_loss", "g_loss", "loss")


# grid25 runs conditional, so the unconditional points path is left to the tests below.
@pytest.mark.parametrize("data_name,conditional", [("mnist5k", False), ("grid25", True)])
def test_builds_and_steps(data_name, conditional):
  config = _config(data_name)
  config.model.conditional = conditional
  exp = experiment.build(config)
  state = exp.init_state()
  assert set(state.params) == set(state.opt_state) == {"g", "d"}
  batch = {k: jnp.asarray(v[:BATCH]) for k, v in exp.train.items()}
  new_state, metrics = jax.jit(exp.fns.train_step)(state, batch, exp.rngs()["train"])
  assert int(new_state.step) == 1
  for key in ("loss", "d_loss", "g_loss", "d_real", "d_fake", "d_accuracy",
              "g_grad_norm", "d_grad_norm"):
    assert np.isfinite(metrics[key]), key
  assert "gp" not in metrics and "r1" not in metrics  # regularizers are off by default
  assert metrics["loss"] == metrics["g_loss"]  # no auxiliary terms by default

  out = jax.jit(exp.fns.eval_step)(new_state, batch, exp.rngs()["eval"])
  assert {k: v.shape for k, v in out.items()} == {k: (BATCH,) for k in _EVAL_KEYS}
  shown = jax.jit(exp.fns.visualize)(new_state, batch)
  if data_name == "mnist5k":
    samples = np.asarray(shown["samples"])
    assert samples.shape == (BATCH, 28, 28, 1)
    assert samples.min() >= 0 and samples.max() <= 1  # sigmoid output: pixels in [0, 1]
  else:
    assert shown == {}
  if conditional:  # the generator listens to its labels
    z = jnp.zeros((BATCH, config.model.latent_size))
    g = {"params": {"generator": new_state.params["g"]}}
    a = exp.model.apply(g, z, batch["label"], method="generate")
    b = exp.model.apply(g, z, (batch["label"] + 1) % 25, method="generate")
    assert a.shape == (BATCH, 2) and not np.allclose(a, b)


# ------------------------------------------------------------ the schedule


def test_n_critic_updates_and_independent_g_learning_rate():
  state0, state, _ = _init_and_step(_fns(_config(n_critic=3, g_lr=0.0)), num_steps=2)
  assert _adam_count(state.opt_state["d"]) == 6
  assert _adam_count(state.opt_state["g"]) == 2
  # Two time scales: g_lr = 0 freezes G while D keeps learning.
  assert not _changed(state0.params["g"], state.params["g"])
  assert _changed(state0.params["d"], state.params["d"])


@pytest.mark.slow
def test_train_loop_compiles_step_once(tmp_path):
  config = _config("mnist5k", ema_decay=0.9)
  t = config.train
  t.num_steps, t.log_every, t.eval_every, t.sample_every, t.checkpoint_every = 6, 3, 6, 6, 6
  # The in-loop sample scores need the full feature net; the smoke runs cover them.
  config.monitor.sample_scores = False
  result = train.run(config, str(tmp_path / "run"))
  assert result["step"] == 6
  assert result["compiles"] == {0: 1}
  assert np.isfinite(result["test/loss"]) and 0 <= result["test/d_real"] <= 1


# ------------------------------------------------------------------ EMA, aux


def test_ema_is_exact_and_used_for_evaluation():
  fns = _fns(_config(ema_decay=0.5, d_lr=0.0))
  state0, state, _ = _init_and_step(fns)
  # d_lr = 0 freezes D while G moves (the other half of the two time scales).
  assert not _changed(state0.params["d"], state.params["d"])
  assert _changed(state0.params["g"], state.params["g"])
  expected = jax.tree.map(lambda old, new: 0.5 * old + 0.5 * new,
                          state0.params["g"], state.params["g"])
  for a, b in zip(jax.tree.leaves(state.extra["ema"]["g"]["params"]),
                  jax.tree.leaves(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

  eval_step, batch, rng = jax.jit(fns.eval_step), _points_batch(5), jax.random.key(3)
  zeros = lambda tree: jax.tree.map(jnp.zeros_like, tree)
  base = eval_step(state, batch, rng)["d_fake"]
  # Breaking the raw G params changes nothing; breaking the EMA copy changes the fakes.
  raw_broken = state.replace(params={**state.params, "g": zeros(state.params["g"])})
  np.testing.assert_array_equal(eval_step(raw_broken, batch, rng)["d_fake"], base)
  ema = state.extra["ema"]["g"]
  ema_broken = state.replace(extra={"ema": {"g": {**ema, "params": zeros(ema["params"])}}})
  assert not np.allclose(eval_step(ema_broken, batch, rng)["d_fake"], base)


def test_ema_warmup_ramps_the_decay_from_one_tenth():
  fns = _fns(_config(ema_decay=0.999, ema_warmup=True))
  state0 = jax.jit(fns.init)(jax.random.key(1), _points_batch())
  step = jax.jit(fns.train_step)
  state1, _ = step(state0, _points_batch(0), jax.random.key(2))
  state2, _ = step(state1, _points_batch(1), jax.random.key(2))
  ema = state0.extra["ema"]["g"]["params"]
  # Step t (0-based) averages with decay min(0.999, (1 + t) / (10 + t)).
  for state, decay in ((state1, 1 / 10), (state2, 2 / 11)):
    ema = jax.tree.map(lambda e, p, d=decay: d * e + (1 - d) * p, ema, state.params["g"])
    for a, b in zip(jax.tree.leaves(state.extra["ema"]["g"]["params"]), jax.tree.leaves(ema)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_aux_generator_loss_is_added_with_its_weight():
  _, _, metrics = _init_and_step(_fns(_config(aux_weights={"test_fake_mean": 2.0})))
  assert np.isfinite(metrics["aux_test_fake_mean"])
  np.testing.assert_allclose(metrics["loss"],
                             metrics["g_loss"] + 2.0 * metrics["aux_test_fake_mean"], rtol=1e-5)


# ------------------------------------------------------------ D regularizers


def test_weight_clip_and_penalties():
  clip = 0.01
  fns = _fns(_config(loss="wasserstein", n_critic=2, d_lr=0.1, weight_clip=clip,
                     gp_weight=10.0, r1_gamma=1.0))
  state0, state, metrics = _init_and_step(fns)
  assert max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(state0.params["d"])) > clip
  for p in jax.tree.leaves(state.params["d"]):
    assert float(jnp.max(jnp.abs(p))) <= clip
  for key in ("gp", "r1"):
    assert np.isfinite(metrics[key]) and metrics[key] > 0, key


def test_unknown_optimizer_and_bad_n_critic_fail_clearly():
  with pytest.raises(ValueError, match="rmsprop"):
    _fns(_config(d_optimizer="adagrad"))
  with pytest.raises(ValueError, match="n_critic"):
    _fns(_config(n_critic=0))


# ------------------------------------------------------------ batch statistics


class _BNGenerator(nn.Module):
  @nn.compact
  def __call__(self, z, labels=None, train=False):
    h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.5)(nn.Dense(8)(z)))
    return nn.Dense(2)(h)


class _BNDiscriminator(nn.Module):
  @nn.compact
  def __call__(self, x, labels=None, train=False):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.5)(nn.Dense(8)(x))
    return nn.Dense(1)(nn.leaky_relu(h, 0.2))[:, 0]


def test_batch_stats_are_threaded_per_network():
  fns = _fns(_config(), GAN(generator=_BNGenerator(), discriminator=_BNDiscriminator()))
  state0, state, metrics = _init_and_step(fns, num_steps=2)
  assert np.isfinite(metrics["loss"])
  for net in ("g", "d"):
    assert set(state.model_state[net]) == {"batch_stats"}
    assert _changed(state0.model_state[net], state.model_state[net]), net
  # Evaluation uses the running averages, so each example's scores are its own.
  eval_step, batch, rng = jax.jit(fns.eval_step), _points_batch(7), jax.random.key(0)
  full = eval_step(state, batch, rng)["d_real"]
  half = eval_step(state, {k: v[:BATCH // 2] for k, v in batch.items()}, rng)["d_real"]
  np.testing.assert_allclose(full[:BATCH // 2], half, rtol=1e-5)


def test_ema_copy_keeps_its_own_batch_statistics():
  model = GAN(generator=_BNGenerator(), discriminator=_BNDiscriminator())
  config = _config(ema_decay=0.5)
  fns = _fns(config, model)
  state0, state, _ = _init_and_step(fns)
  ema = state.extra["ema"]["g"]
  assert "d" not in state.extra["ema"]  # only players with an EMA keep one
  # The statistics are the EMA network's own: its BN update on one batch of
  # sampling-time latents drawn with (G's key, updates) (genlab.steps.game).
  rng = jax.random.fold_in(jax.random.key(2), 0)  # _init_and_step's key, at step 0
  g_key = jax.random.split(rng, 3)[2]
  z = fns.sampler.latents(jax.random.fold_in(g_key, 1), BATCH, sampling=True)
  _, own = model.apply({"params": {"generator": ema["params"]},
                        "batch_stats": {"generator": state0.model_state["g"]["batch_stats"]}},
                       z, None, True, method="generate", mutable=["batch_stats"])
  for a, b in zip(jax.tree.leaves(ema["cols"]), jax.tree.leaves(own["batch_stats"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # Not the trained G's statistics, nor their EMA (statistics of other weights).
  ema_of_raw = jax.tree.map(lambda old, new: 0.5 * old + 0.5 * new,
                            state0.model_state["g"], state.model_state["g"])
  assert _changed(ema["cols"], ema_of_raw)
  assert _changed(ema["cols"], state.model_state["g"])
  # Sampling reads the EMA's statistics, not the raw G's.
  z = jnp.ones((4, 4))
  a = fns.generate(state, z, None)
  raw_stats = state.replace(extra={"ema": {"g": {**ema, "cols": state.model_state["g"]}}})
  assert not np.allclose(a, fns.generate(raw_stats, z, None))


@pytest.mark.parametrize("loss", ["ns", "wasserstein", "hinge"])
def test_eval_step_reports_the_games_own_losses(loss):
  from genlab.losses import ADVERSARIAL_LOSSES  # pylint: disable=import-outside-toplevel
  fns = _fns(_config(loss=loss))
  state = jax.jit(fns.init)(jax.random.key(1), _points_batch())
  batch = _points_batch(4)
  out = jax.jit(fns.eval_step)(state, batch, jax.random.key(0))
  real, fake = jax.scipy.special.logit(out["d_real"]), jax.scipy.special.logit(out["d_fake"])
  pair = ADVERSARIAL_LOSSES.get(loss)
  # Per-example terms whose means are the batch losses of the configured game.
  np.testing.assert_allclose(jnp.mean(out["d_loss"]), pair.d_loss(real, fake), rtol=1e-4)
  np.testing.assert_allclose(jnp.mean(out["g_loss"]), pair.g_loss(fake), rtol=1e-4)
  np.testing.assert_array_equal(out["loss"], out["d_loss"])


def _d_norm_loss(model, config):
  """A test generator term that reads D's params: the aux hook sees every player."""
  del model, config
  return lambda params, batch, fake, rng: sum(
      jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params["d"]))


if "test_d_norm" not in adversarial.AUX_G_LOSSES:
  adversarial.AUX_G_LOSSES.register("test_d_norm", _d_norm_loss)


def test_aux_loss_sees_every_players_params():
  fns = _fns(_config(aux_weights={"test_d_norm": 1.0}, d_lr=0.0))
  state0, _, metrics = _init_and_step(fns)
  expected = sum(float(jnp.sum(jnp.square(p))) for p in jax.tree.leaves(state0.params["d"]))
  np.testing.assert_allclose(metrics["aux_test_d_norm"], expected, rtol=1e-5)


# ------------------------------------------------------------ packing (PacGAN)


def test_pack_groups_joins_consecutive_examples_along_the_last_axis():
  points = jnp.arange(16.0).reshape(8, 2)
  packed = adversarial.pack_groups(points, 4)
  assert packed.shape == (2, 8)
  np.testing.assert_array_equal(packed[1], points[4:8].reshape(-1))
  images = jnp.arange(8 * 3 * 3 * 2.0).reshape(8, 3, 3, 2)
  packed = adversarial.pack_groups(images, 2)
  assert packed.shape == (4, 3, 3, 4)
  np.testing.assert_array_equal(packed[1, ..., :2], images[2])
  np.testing.assert_array_equal(packed[1, ..., 2:], images[3])
  assert adversarial.pack_groups(points, 1) is points


class _FarGenerator(nn.Module):
  """Every fake at (100, 100), far from any grid25 point (|x| < 5)."""

  @nn.compact
  def __call__(self, z, labels=None, train=False):
    return 0.0 * nn.Dense(2)(z) + 100.0


_SEEN_BY_D = []  # input shapes _MaxDiscriminator is traced with (Flax freezes list fields)


class _MaxDiscriminator(nn.Module):
  """Logit 50 − max(x) of a group: one (far) fake member makes a group score as fake."""

  @nn.compact
  def __call__(self, x, labels=None, train=False):
    _SEEN_BY_D.append(x.shape)
    return 50.0 - jnp.max(x, axis=-1) + 0.0 * nn.Dense(1)(x)[:, 0]


@pytest.mark.parametrize("pack", [2, 4])
def test_packed_discriminator_sees_unmixed_groups(pack):
  _SEEN_BY_D.clear()
  config = _config(pack=pack, gp_weight=1.0, r1_gamma=1.0)
  fns = _fns(config, GAN(generator=_FarGenerator(), discriminator=_MaxDiscriminator()))
  _, _, metrics = _init_and_step(fns)
  # Every D call (init, both losses, GP, R1) sees [B/pack, pack·2].
  assert _SEEN_BY_D and set(_SEEN_BY_D) == {(BATCH // pack, 2 * pack)}
  # A group mixing reals with (far) fakes would score as fake.
  assert metrics["d_accuracy"] == 1.0 and metrics["d_real"] > 1 - 1e-6
  assert np.isfinite(metrics["gp"]) and np.isfinite(metrics["r1"])
  state, _, _ = _init_and_step(fns)
  out = jax.jit(fns.eval_step)(state, _points_batch(3), jax.random.key(0))
  assert {k: v.shape for k, v in out.items()} == {k: (BATCH,) for k in _EVAL_KEYS}
  assert np.all(out["d_real"] > 1 - 1e-6) and np.all(out["d_fake"] < 1e-6)


def test_pack_one_is_the_per_example_discriminator():
  config = _config(pack=1)
  model = models.build(config.model, POINTS_INFO)
  fns = _fns(config, model)
  batch, r_init = _points_batch(), jax.random.key(1)
  state = jax.jit(fns.init)(r_init, batch)
  # The same params as one D(G(z)) init pass (the step initializes G and D apart).
  z = jax.random.normal(jax.random.split(r_init)[1], (BATCH, config.model.latent_size))
  params, _ = adversarial.split_variables(model.init(jax.random.split(r_init)[0], z, None))
  assert not _changed(params, state.params)
  # Scores are per example: D applied to each point alone.
  out = jax.jit(fns.eval_step)(state, batch, jax.random.key(0))
  d = {"params": {"discriminator": state.params["d"]}}
  expected = jax.nn.sigmoid(model.apply(d, batch["image"], method="discriminate"))
  np.testing.assert_allclose(out["d_real"], expected, rtol=1e-5)


def test_bad_pack_fails_clearly():
  with pytest.raises(ValueError, match="gan.pack must be at least 1"):
    _fns(_config(pack=0))
  with pytest.raises(ValueError, match=r"data.batch_size=16 is not divisible by gan.pack=3"):
    _fns(_config(pack=3))
  config = _config(pack=4)
  config.data.eval_batch_size = 250
  with pytest.raises(ValueError, match=r"data.eval_batch_size=250 .* gan.pack=4"):
    _fns(config)
  config = _config(pack=2)
  config.model.conditional = True
  with pytest.raises(ValueError, match="unconditional"):
    _fns(config, models.build(config.model, POINTS_INFO))
