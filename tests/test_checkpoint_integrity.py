"""Checkpoints that were damaged on disk are detected and skipped, with one warning line:
flipped bytes (caught by the checksums saved with each checkpoint) and missing files."""

import logging
import os

import jax
import numpy as np
import pytest

from conftest import load_config
from genlab import checkpoint, experiment, train

pytestmark = pytest.mark.slow  # real training runs and checkpoints: make test only


@pytest.fixture(scope="module")
def run_with_two_checkpoints(tmp_path_factory):
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
    config.model.hidden = (32,)
    config.train.update(num_steps=20, checkpoint_every=10, keep_checkpoints=5)
  workdir = str(tmp_path_factory.mktemp("ckpt") / "w")
  train.run(config, workdir)
  return workdir


def _copy(workdir, tmp_path) -> str:
  import shutil  # pylint: disable=import-outside-toplevel
  dst = str(tmp_path / "copy")
  shutil.copytree(workdir, dst)
  return dst


def _files(step_dir: str) -> list[str]:
  return [os.path.join(root, f) for root, _, names in os.walk(step_dir) for f in names]


def _restore_with_log(workdir, caplog, capfd):
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    _, state = experiment.restore(workdir)
  warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
  return state, warnings, capfd.readouterr().err


def test_checksums_are_saved_and_match_the_restored_state(run_with_two_checkpoints):
  _, state = experiment.restore(run_with_two_checkpoints)
  sums_dir = os.path.join(run_with_two_checkpoints, "checkpoints", "checksums")
  assert sorted(os.listdir(sums_dir)) == ["10.json", "20.json"]
  import json  # pylint: disable=import-outside-toplevel
  with open(os.path.join(sums_dir, "20.json")) as f:
    assert json.load(f) == checkpoint.checksums(state)
  # Any changed bit changes a leaf's checksum.
  leaves = jax.tree.leaves(state)
  flipped = jax.tree.unflatten(jax.tree.structure(state),
                               [np.asarray(leaves[0]) * -1.0001] + leaves[1:])
  assert checkpoint.checksums(flipped) != checkpoint.checksums(state)


def test_flipped_bytes_fall_back_to_the_previous_checkpoint(run_with_two_checkpoints, tmp_path,
                                                           caplog, capfd):
  workdir = _copy(run_with_two_checkpoints, tmp_path)
  newest = os.path.join(workdir, "checkpoints", "20")
  # The same size, bytes inverted in the middle of the largest file. Its arrays are
  # compressed, so depending on where the bytes land Orbax fails to decode them
  # ("unreadable") or decodes other numbers (the checksums' case, tested on its own below).
  data = max(_files(newest), key=os.path.getsize)
  size = os.path.getsize(data)
  with open(data, "r+b") as f:
    f.seek(size // 2)
    chunk = f.read(64)
    f.seek(size // 2)
    f.write(bytes(b ^ 0xFF for b in chunk))
  assert os.path.getsize(data) == size
  state, warnings, err = _restore_with_log(workdir, caplog, capfd)
  assert int(state.step) == 10
  assert len(warnings) == 1, warnings
  assert warnings[0].startswith(("checkpoint 20 does not match its checksums",
                                 "checkpoint 20 unreadable")), warnings
  assert "Traceback" not in err
  assert sorted(d for d in os.listdir(os.path.join(workdir, "checkpoints"))
                if d.isdigit()) == ["10"]


def test_arrays_that_read_back_wrong_are_caught_by_the_checksums(run_with_two_checkpoints,
                                                                 tmp_path, caplog, capfd):
  """Step 20 rewritten by Orbax with other numbers (one bit of one array), under the
  checksums of the original: Orbax reads it back without complaint, the checksums don't."""
  import shutil  # pylint: disable=import-outside-toplevel
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  workdir = _copy(run_with_two_checkpoints, tmp_path)
  _, state = experiment.restore(workdir)
  leaves, tree = jax.tree.flatten(state)
  first = np.array(leaves[1])
  first.view(np.uint32).reshape(-1)[0] ^= 1  # one bit of one float
  altered = jax.tree.unflatten(tree, [leaves[0], first, *leaves[2:]])
  ckpt_dir = os.path.join(workdir, "checkpoints")
  shutil.rmtree(os.path.join(ckpt_dir, "20"))
  with ocp.CheckpointManager(ckpt_dir) as mngr:
    mngr.save(20, args=ocp.args.StandardSave(altered), force=True)
  restored, warnings, err = _restore_with_log(workdir, caplog, capfd)
  assert int(restored.step) == 10
  assert len(warnings) == 1
  assert warnings[0].startswith("checkpoint 20 does not match its checksums (1 of "), warnings
  assert "Traceback" not in err


def test_a_deleted_manifest_falls_back_quietly(run_with_two_checkpoints, tmp_path, caplog,
                                              capfd):
  workdir = _copy(run_with_two_checkpoints, tmp_path)
  newest = os.path.join(workdir, "checkpoints", "20")
  for path in _files(newest):
    if os.path.basename(path) == "manifest.ocdbt":
      os.remove(path)
  state, warnings, err = _restore_with_log(workdir, caplog, capfd)
  assert int(state.step) == 10
  assert len(warnings) == 1 and "unreadable" in warnings[0]
  assert "Traceback" not in err and len(err.splitlines()) <= 2, err[-3000:]


def _small_run(tmp_path, **train_fields):
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
    config.model.hidden = (32,)
    config.train.update(train_fields)
  return config, str(tmp_path / "w")


def test_a_full_disk_is_one_line_before_orbax_writes(tmp_path, monkeypatch):
  config, workdir = _small_run(tmp_path)
  usage = checkpoint.shutil.disk_usage
  monkeypatch.setattr(checkpoint.shutil, "disk_usage",
                      lambda path: usage(path)._replace(free=1000))
  with pytest.raises(checkpoint.CheckpointWriteError,
                     match=r"^could not write a checkpoint of step 10 to .*: no space left on "
                           r"device; fix that and rerun the same command, which resumes from "
                           r"step 0$"):
    train.run(config, workdir)
  assert not [d for d in os.listdir(os.path.join(workdir, "checkpoints")) if d.isdigit()]


def test_deleted_checkpoints_retrain_without_logging_a_step_twice(tmp_path):
  import shutil  # pylint: disable=import-outside-toplevel
  from genlab.writers import read_metrics  # pylint: disable=import-outside-toplevel
  config, workdir = _small_run(tmp_path)
  train.run(config, workdir)
  first = read_metrics(workdir)
  shutil.rmtree(os.path.join(workdir, "checkpoints"))
  train.run(config, workdir)
  again = read_metrics(workdir)
  keys = [(r["step"], tuple(sorted(r))) for r in again]
  assert len(keys) == len(set(keys)) and len(again) == len(first)
