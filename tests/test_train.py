"""The training loop in-process: compiles, exact resume, workdir safety, data order."""

import os
import shutil

import jax
import numpy as np
import pytest

from conftest import load_config
from genlab import data, experiment, families, models, train
from genlab.checkpoint import CheckpointError
from genlab.errors import UserError
from genlab.data import pipeline
from genlab.writers import read_metrics

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it


def _ae_smoke():
  config = load_config("ae", "smoke")
  # Pin what the resume test relies on (smoke sets these today; tuning may not).
  config.train.num_steps = 20
  config.train.checkpoint_every = 10
  config.train.keep_checkpoints = 2
  return config


def _stages(config) -> tuple:
  info = data.dataset_info(config.data.name)
  return families.make_fns(config, models.build(config.model, info), info).stages


def _leaves(state):
  return jax.tree.leaves(jax.device_get(state))


def _assert_states_equal(a, b):
  la, lb = _leaves(a), _leaves(b)
  assert len(la) == len(lb)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
  """One uninterrupted ae smoke run, shared read-only (copy it before changing it)."""
  workdir = str(tmp_path_factory.mktemp("ae_a") / "run")
  result = train.run(_ae_smoke(), workdir)
  return workdir, result


def _copy(workdir: str, tmp_path) -> str:
  dst = str(tmp_path / "copy")
  shutil.copytree(workdir, dst)
  return dst


# ------------------------------------------------------------ (a) compiles


def test_one_compile_per_stage(ae_run):
  workdir, result = ae_run
  assert result["step"] == 20
  assert result["compiles"] == {s: 1 for s in _stages(_ae_smoke())}
  for key in ("test/loss", "test/mse", "test/psnr"):
    assert np.isfinite(result[key])
  records = read_metrics(workdir)
  assert [r["step"] for r in records if "train/loss" in r] == [5, 10, 15, 20]
  assert [r["step"] for r in records if "test/mse" in r] == [10, 20]
  # Training lowers the loss even in 20 steps.
  losses = [r["train/loss"] for r in records if "train/loss" in r]
  assert losses[-1] < losses[0]


def test_layerwise_compiles_each_stage_once(tmp_path):
  config = load_config("stacked_ae", "layerwise,smoke")
  t = config.train
  t.eval_every = t.sample_every = t.checkpoint_every = t.num_steps  # keep it cheap
  num_layers = len(config.model.hidden) + 1
  result = train.run(config, str(tmp_path / "run"))
  assert result["compiles"] == {s: 1 for s in range(num_layers + 1)}
  stages = [r["train/stage"] for r in read_metrics(str(tmp_path / "run")) if "train/stage" in r]
  assert stages == sorted(stages) and stages[-1] == num_layers  # ends fine-tuning end to end


# -------------------------------------------------------------- (b) resume


def test_interrupted_run_resumes_bitwise(ae_run, tmp_path):
  workdir_a, _ = ae_run
  workdir_b = str(tmp_path / "b")
  with pytest.raises(train.SimulatedInterrupt):
    train.run(_ae_smoke(), workdir_b, interrupt_at=13)
  # Only the checkpoint before the crash exists; metrics went up to step 10.
  assert [d for d in os.listdir(os.path.join(workdir_b, "checkpoints")) if d.isdigit()] == ["10"]
  assert max(r["step"] for r in read_metrics(workdir_b)) == 10
  result = train.run(_ae_smoke(), workdir_b)
  assert result["step"] == 20
  assert result["compiles"] == {s: 1 for s in _stages(_ae_smoke())}

  _, state_a = experiment.restore(workdir_a)
  _, state_b = experiment.restore(workdir_b)
  _assert_states_equal(state_a.params, state_b.params)
  _assert_states_equal(state_a, state_b)  # optimizer state and step too

  records_a, records_b = read_metrics(workdir_a), read_metrics(workdir_b)
  for key in {k for r in records_b for k in r if k != "step"}:
    steps_b = [r["step"] for r in records_b if key in r]
    assert len(steps_b) == len(set(steps_b)), f"{key} logged twice at a step: {steps_b}"
    steps_a = [r["step"] for r in records_a if key in r]
    assert steps_b == steps_a, key
  # Resumed metrics are the uninterrupted ones (except wall-clock rates).
  strip = lambda rs: [{k: v for k, v in r.items() if k != "train/steps_per_sec"} for r in rs]
  assert strip(records_b) == strip(records_a)


# --------------------------------------------------- (c), (d) workdir reuse


def _snapshot(directory: str) -> dict:
  """{relative path: bytes} of every file under `directory`."""
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = f.read()
  return out


def test_rerun_of_finished_workdir_trains_nothing(ae_run, tmp_path, capsys):
  workdir = _copy(ae_run[0], tmp_path)
  before = {d: _snapshot(os.path.join(workdir, d)) for d in ("checkpoints", "samples")}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    metrics_before = f.read()
  result = train.run(_ae_smoke(), workdir)
  assert result["step"] == 20
  assert result["compiles"] == {}  # no train step was even traced
  assert "nothing to train" in capsys.readouterr().err
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    assert f.read() == metrics_before
  # The saved state (and every sample grid) is byte for byte what it was.
  for d, files in before.items():
    assert _snapshot(os.path.join(workdir, d)) == files, d


def test_different_config_in_existing_workdir(ae_run):
  workdir = ae_run[0]
  path = os.path.join(workdir, "config.json")
  with open(path) as f:
    before = f.read()
  config = _ae_smoke()
  config.optim.learning_rate *= 2
  config.model.code_size += 1
  with pytest.raises(experiment.ConfigMismatchError) as e:
    train.run(config, workdir)
  message = str(e.value)
  assert "optim.learning_rate" in message and "model.code_size" in message
  assert "\n" not in message
  with open(path) as f:
    assert f.read() == before


def test_load_config_of_non_workdir(tmp_path):
  with pytest.raises(UserError, match="genlab workdir"):
    experiment.load_config(str(tmp_path))
  with pytest.raises(UserError):
    experiment.restore(str(tmp_path))


# ------------------------------------------------------ (e) corrupt checkpoint


def _garble(step_dir: str):
  rs = np.random.RandomState(0)
  for root, _, files in os.walk(step_dir):
    for name in files:
      path = os.path.join(root, name)
      size = max(os.path.getsize(path), 16)
      with open(path, "wb") as f:
        f.write(rs.bytes(size))


def test_corrupt_checkpoint_falls_back_then_fails(ae_run, tmp_path):
  workdir = _copy(ae_run[0], tmp_path)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  assert sorted(os.listdir(ckpt_dir)) == ["10", "20", "checksums"]
  _garble(os.path.join(ckpt_dir, "20"))
  _, state = experiment.restore(workdir)
  assert int(state.step) == 10
  entries = os.listdir(ckpt_dir)
  assert "20" not in entries and "10" in entries
  assert [e for e in entries if e.startswith("corrupt_20")], entries  # kept aside, not deleted

  _garble(os.path.join(ckpt_dir, "10"))
  with pytest.raises(CheckpointError) as e:
    experiment.restore(workdir)
  assert "\n" not in str(e.value)
  entries = os.listdir(ckpt_dir)
  assert not {"10", "20"} & set(entries)
  assert len([e for e in entries if e.startswith("corrupt_")]) == 2


# ------------------------------------------------------------ (f) data order


def _toy(n=50):
  images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
  return images, np.arange(n, dtype=np.int64)


def test_train_batches_pure_function_of_seed_and_step():
  images, labels = _toy()
  a = pipeline.train_batches({"image": images, "label": labels}, 10, seed=3)
  b = pipeline.train_batches({"image": images, "label": labels}, 10, seed=3)
  for i in (0, 1, 4, 5, 17, 123):  # inside, at and far past epoch boundaries
    np.testing.assert_array_equal(a[i]["label"], b[i]["label"])
    np.testing.assert_array_equal(a[i]["image"], b[i]["image"])
    # Images travel with their labels.
    np.testing.assert_array_equal(a[i]["image"][:, 0, 0, 0], a[i]["label"].astype(np.uint8))
  # Random access does not depend on what was read before.
  c = pipeline.train_batches({"image": images, "label": labels}, 10, seed=3)
  np.testing.assert_array_equal(c[123]["label"], a[123]["label"])
  other = pipeline.train_batches({"image": images, "label": labels}, 10, seed=4)
  assert not np.array_equal(other[0]["label"], a[0]["label"])


def test_each_epoch_covers_every_example_once():
  images, labels = _toy()
  ds = pipeline.train_batches({"image": images, "label": labels}, 10, seed=0)
  epochs = [np.concatenate([ds[e * 5 + i]["label"] for i in range(5)]) for e in range(3)]
  for order in epochs:
    assert sorted(order.tolist()) == list(range(50))
  assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
  assert not np.array_equal(epochs[0], np.arange(50))  # shuffled at all
  with pytest.raises(ValueError, match="exceeds"):
    pipeline.train_batches({"image": images, "label": labels}, 51, seed=0)
  with pytest.raises(IndexError):
    ds[-1]


@pytest.mark.parametrize("n,batch,seed", [(50, 10, 0), (1438, 128, 7), (4000, 96, 2**32 - 3)])
def test_train_batches_follow_grains_shuffle_order(n, batch, seed):
  """The vectorized epoch permutation is grain's per-element shuffle, bit for bit,
  including batches that straddle epochs and the per-epoch seed's 2**32 wrap-around."""
  import grain
  labels = np.arange(n, dtype=np.int64)
  ours = pipeline.train_batches({"label": labels}, batch, seed)
  ref = grain.MapDataset.range(n).shuffle(seed=seed).repeat().batch(batch, drop_remainder=True)
  per_epoch = n // batch + 1
  for i in (0, 1, per_epoch - 1, per_epoch, 3 * per_epoch + 1, 1000):
    np.testing.assert_array_equal(ours[i]["label"], ref[i])


def test_prefetcher_starts_at_step_and_eval_batches_pad():
  images, labels = _toy()
  ds = pipeline.train_batches({"image": images, "label": labels}, 10, seed=0)
  prefetch = pipeline.Prefetcher(ds, start=7)
  try:
    for i in range(7, 11):
      np.testing.assert_array_equal(next(prefetch)["label"], ds[i]["label"])
  finally:
    prefetch.close()
  batches = list(pipeline.eval_batches({"image": images, "label": labels}, 16))
  assert [n for _, n in batches] == [16, 16, 16, 2]
  assert all(len(b["label"]) == 16 for b, _ in batches)
  seen = np.concatenate([b["label"][:n] for b, n in batches])
  np.testing.assert_array_equal(seen, labels)


def test_eval_does_not_depend_on_eval_batch_size(ae_run):
  from genlab.evaluation.split import evaluate_split
  exp, state = experiment.restore(ae_run[0])
  eval_fn = jax.jit(exp.fns.eval_step)
  rng = exp.rngs()["eval"]
  a = evaluate_split(eval_fn, state, exp.test, 250, rng, exp.mesh)
  b = evaluate_split(eval_fn, state, exp.test, 300, rng, exp.mesh)  # padded last batch
  assert a.keys() == b.keys() and len(a["mse"]) == len(exp.test["image"])
  for key in a:
    np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------- (g) sparse, denoising


def _cheap(config):
  t = config.train
  t.eval_every = t.sample_every = t.checkpoint_every = t.num_steps
  return config


def test_sparsity_pulls_mean_activation_toward_rho(tmp_path):
  sparse = _cheap(load_config("sparse_ae", "smoke"))
  dense = _cheap(load_config("sparse_ae", "smoke"))
  dense.sparsity.beta = 0.0
  rho = sparse.sparsity.rho
  with_penalty = train.run(sparse, str(tmp_path / "sparse"))
  without = train.run(dense, str(tmp_path / "dense"))
  assert any("train/sparsity_penalty" in r for r in read_metrics(str(tmp_path / "sparse")))
  assert not any("train/sparsity_penalty" in r for r in read_metrics(str(tmp_path / "dense")))
  gap = abs(with_penalty["test/mean_activation"] - rho)
  gap0 = abs(without["test/mean_activation"] - rho)
  assert gap < 0.5 * gap0, (with_penalty["test/mean_activation"],
                            without["test/mean_activation"], rho)


def test_denoising_reports_noisy_and_denoised_psnr(tmp_path):
  # The MLP variant keeps this cheap; the conv default goes through the CLI test.
  config = _cheap(load_config("denoising_ae", "over,smoke"))
  result = train.run(config, str(tmp_path / "run"))
  assert np.isfinite(result["test/psnr_noisy"]) and np.isfinite(result["test/psnr_denoised"])
  if config.noise.gaussian_std == 0 and config.noise.mask_prob > 0:
    # Masking with prob v has expected per-image MSE v·mean(x²): check the noisy PSNR.
    x = data.load_arrays(config.data.name, "test")[0].astype(np.float64) / 255.0
    expected = np.mean(10 * np.log10(1 / (config.noise.mask_prob
                                          * np.mean(x.reshape(len(x), -1) ** 2, -1))))
    assert result["test/psnr_noisy"] == pytest.approx(expected, abs=0.3)


# ------------------------------------------------------------ failed starts


def test_failed_start_does_not_claim_the_workdir(tmp_path):
  workdir = str(tmp_path / "run")
  bad = _ae_smoke()
  bad.data.name = "no_such_dataset"
  with pytest.raises(data.DataError, match="no_such_dataset"):
    train.run(bad, workdir)
  # The user fixes the typo and reruns in the same workdir: nothing was trained,
  # so the corrected config must be accepted.
  experiment.write_or_check_config(_ae_smoke(), workdir)
