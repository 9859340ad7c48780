"""Data parallelism: the same run on 2 simulated CPU devices matches 1 device."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from experiments.configs import ae
    from genlab import evaluation, sharding, train
    config = ae.get_config("smoke")
    config.data.name = "digits"  # 8x8: the check is about sharding, not capacity
    config.data.batch_size = int(sys.argv[2])
    config.data.eval_batch_size = 120
    result = train.run(config, sys.argv[1])
    exp, state = evaluation.restore(sys.argv[1])
    leaves = [np.asarray(x).ravel() for x in jax.tree.leaves(state.params)]
    np.save(sys.argv[1] + "/params.npy", np.concatenate(leaves))
    print(json.dumps({"devices": jax.device_count(), "mse": result["test/mse"]}))
""")


def _run(workdir, devices, batch_size=32):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(workdir), str(batch_size)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  return proc


def test_two_devices_match_one(tmp_path):
  import numpy as np
  one = _run(tmp_path / "one", 1)
  two = _run(tmp_path / "two", 2)
  assert one.returncode == 0, one.stderr[-2000:]
  assert two.returncode == 0, two.stderr[-2000:]
  r1 = json.loads(one.stdout.strip().splitlines()[-1])
  r2 = json.loads(two.stdout.strip().splitlines()[-1])
  assert (r1["devices"], r2["devices"]) == (1, 2)
  p1 = np.load(tmp_path / "one" / "params.npy")
  p2 = np.load(tmp_path / "two" / "params.npy")
  # Sharded reductions sum in a different order: equal up to float32 rounding.
  np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-3)
  assert r1["mse"] == pytest.approx(r2["mse"], rel=1e-3)


def test_batch_must_divide_over_devices(tmp_path):
  proc = _run(tmp_path / "odd", 2, batch_size=33)
  assert proc.returncode != 0
  assert "does not divide over 2 devices" in proc.stderr
