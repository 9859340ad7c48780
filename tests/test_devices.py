"""Data parallelism on 8 simulated CPU devices: one train step of the AE, the VAE and the
DCGAN, through the loop's own jitted step (genlab.train.jit_train_step), gives the
parameters it gives on one device for the same global batch.

Each device count runs in its own process: XLA fixes the number of CPU devices when it
starts.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.scale]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("ae", "vae", "dcgan")

_ONE_STEP = textwrap.dedent("""
    import importlib, json, sys
    import jax, numpy as np
    from genlab import experiment, sharding, train
    out = {}
    for name in sys.argv[2].split(","):
      config = importlib.import_module(f"experiments.configs.{name}").get_config("smoke")
      config.data.batch_size = 32  # the same global batch on 1 and on 8 devices
      exp = experiment.build(config)
      stage = exp.fns.stage_at(0)
      state = exp.init_state()
      batch = sharding.put_local_batch(exp.example_batch(), exp.mesh)
      state, metrics = train.jit_train_step(exp.fns, stage, exp.mesh)(
          state, batch, exp.rngs()["train"])
      leaves = jax.tree_util.tree_leaves_with_path(jax.device_get(state.params))
      np.savez(f"{sys.argv[1]}/{name}.npz",
               **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
      out[name] = {"devices": jax.device_count(),
                   "batch_sharding": str(batch["image"].sharding.spec),
                   "loss": float(metrics["loss"])}
    print(json.dumps(out))
""")


def _one_step(out_dir, devices: int) -> dict:
  os.makedirs(out_dir, exist_ok=True)
  # Appended to the suite's XLA_FLAGS (tests/conftest.py), which the process keeps.
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
  env = dict(os.environ, XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", _ONE_STEP, str(out_dir), ",".join(CONFIGS)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_eight_devices_match_one_device(tmp_path):
  one = _one_step(tmp_path / "one", 1)
  eight = _one_step(tmp_path / "eight", 8)
  for name in CONFIGS:
    assert (one[name]["devices"], eight[name]["devices"]) == (1, 8)
    assert eight[name]["batch_sharding"] == "P('data',)"
    assert eight[name]["loss"] == pytest.approx(one[name]["loss"], rel=1e-5)
    p1 = np.load(tmp_path / "one" / f"{name}.npz")
    p8 = np.load(tmp_path / "eight" / f"{name}.npz")
    assert sorted(p1.files) == sorted(p8.files) and p1.files
    # Sharded reductions sum in another order, so gradients differ by float32 rounding.
    # Adam's first step is ±lr whatever a gradient's size, so a weight whose gradient is
    # within rounding of 0 may step either way: the bar is relative to the whole
    # parameter vector (‖Δθ‖ / ‖θ‖ < 1e-5), and each tensor must hold 1e-4.
    diff = np.sqrt(sum(np.sum((p1[k] - p8[k]) ** 2) for k in p1.files))
    norm = np.sqrt(sum(np.sum(p1[k] ** 2) for k in p1.files))
    assert diff / norm < 1e-5, (name, diff / norm)
    for key in p1.files:
      assert np.linalg.norm(p1[key] - p8[key]) < 1e-4 * np.linalg.norm(p1[key]), (name, key)
