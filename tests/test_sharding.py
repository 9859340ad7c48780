"""Data parallelism: 2 simulated CPU devices match 1; 2 processes share a batch."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Separate processes: make test-scale runs them, make test and make test-fast skip them.
pytestmark = [pytest.mark.slow, pytest.mark.scale]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from experiments.configs import ae
    from genlab import experiment, sharding, train
    config = ae.get_config("smoke")
    config.data.name = "digits"  # 8x8: the check is about sharding, not capacity
    config.data.batch_size = int(sys.argv[2])
    config.data.eval_batch_size = 120
    result = train.run(config, sys.argv[1])
    exp, state = experiment.restore(sys.argv[1])
    leaves = [np.asarray(x).ravel() for x in jax.tree.leaves(state.params)]
    np.save(sys.argv[1] + "/params.npy", np.concatenate(leaves))
    print(json.dumps({"devices": jax.device_count(), "mse": result["test/mse"]}))
""")


def _run(workdir, devices, batch_size=32):
  # Added to the suite's XLA_FLAGS (tests/conftest.py), which the run keeps.
  xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
  env = dict(os.environ, XLA_FLAGS=xla_flags.strip(), JAX_PLATFORMS="cpu")
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


# ------------------------------------------------ per-process batches


def test_one_process_helpers_match_plain_jax():
  import jax
  import numpy as np
  from genlab import sharding
  mesh = sharding.make_mesh()
  batch = {"image": np.arange(2 * 8 * 8, dtype=np.uint8).reshape(2, 8, 8, 1),
           "label": np.array([3, 4])}
  placed = sharding.put_local_batch(batch, mesh)
  reference = jax.device_put(batch, sharding.batch_sharding(mesh))
  for key in batch:
    assert placed[key].sharding == reference[key].sharding
    np.testing.assert_array_equal(placed[key], reference[key])
  fetched = sharding.gather(placed)
  assert all(isinstance(v, np.ndarray) for v in fetched.values())
  np.testing.assert_array_equal(fetched["image"], batch["image"])
  assert sharding.is_writer()
  assert sharding.local_batch_size(32, mesh) == 32


# Run as two processes on one machine (see FACTS.md: gloo CPU collectives). Each
# contributes its own rows; both must see the same global sum and gather the
# whole global array in row order.
_TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    pid, port = int(sys.argv[1]), sys.argv[2]
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}",
                               num_processes=2, process_id=pid)
    import numpy as np
    from genlab import sharding
    from genlab.errors import UserError
    mesh = sharding.make_mesh()
    n_local = sharding.local_batch_size(6, mesh)
    rows = np.arange(pid * n_local, (pid + 1) * n_local)
    local = {"x": (rows[:, None] * 10 + np.arange(3)).astype(np.float32),
             "row": rows}
    batch = sharding.put_local_batch(local, mesh)
    total = jax.jit(lambda b: b["x"].sum())(batch)
    scaled = jax.jit(lambda b: b["x"] * 2)(batch)  # per-example, sharded
    got = sharding.gather({"scaled": scaled, "row": batch["row"], "total": total})
    try:
      sharding.local_batch_size(7, mesh)
      error = None
    except UserError as e:
      error = str(e)
    # The loop on two processes: each reads its shard, only process 0 writes files,
    # evaluation gathers every test example's score to both.
    from experiments.configs import ae
    from genlab import train
    config = ae.get_config("smoke")
    with config.unlocked():
      config.data.name, config.data.eval_batch_size = "digits", 120
    result = train.run(config, sys.argv[3])
    print(json.dumps({
        "processes": jax.process_count(), "n_local": n_local,
        "shape": list(batch["x"].shape), "total": float(got["total"]),
        "scaled": got["scaled"].tolist(), "row": got["row"].tolist(),
        "writer": sharding.is_writer(), "error": error, "mse": result["test/mse"]}))
    jax.distributed.shutdown()
""")


def _free_port():
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_put_local_batch_and_gather(tmp_path):
  import numpy as np
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # 1 device each
  env["JAX_PLATFORMS"] = "cpu"
  port = str(_free_port())
  # Files, not pipes: a peer blocked on a full pipe would stall the collectives.
  logs = [(open(tmp_path / f"{i}.out", "w+"), open(tmp_path / f"{i}.err", "w+"))
          for i in (0, 1)]
  workdir = str(tmp_path / "run")
  procs = [subprocess.Popen([sys.executable, "-c", _TWO_PROCESSES, str(i), port, workdir],
                            cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
           for i, (out, err) in enumerate(logs)]
  outputs = []
  try:
    for proc, (out, err) in zip(procs, logs):
      proc.wait(timeout=300)
      out.seek(0)
      err.seek(0)
      assert proc.returncode == 0, err.read()[-2000:]
      outputs.append(json.loads(out.read().strip().splitlines()[-1]))
  finally:
    for proc, files in zip(procs, logs):  # a hung peer must not outlive the test
      if proc.poll() is None:
        proc.kill()
        proc.wait()
      for f in files:
        f.close()
  x = np.arange(6)[:, None] * 10.0 + np.arange(3)
  for pid, r in enumerate(outputs):
    assert (r["processes"], r["n_local"], r["shape"]) == (2, 3, [6, 3])
    assert r["total"] == x.sum()
    assert r["row"] == list(range(6))
    np.testing.assert_array_equal(r["scaled"], 2 * x)
    assert r["writer"] == (pid == 0)
    assert r["error"] == ("data.batch_size 7 does not divide over 2 processes; "
                          "use a positive multiple of 2")
  # Both processes saw the whole test split's scores; the files were written once.
  assert outputs[0]["mse"] == outputs[1]["mse"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    steps = [(r["step"], "train/loss" in r) for r in map(json.loads, f)]
  assert len(steps) == len(set(steps)) and max(s for s, _ in steps) == 20
  # The checkpoint, evaluated by one process over the whole split, agrees.
  from genlab import experiment  # pylint: disable=import-outside-toplevel
  exp, state = experiment.restore(workdir)
  mse = float(np.mean(exp.evaluate_split(state, exp.rngs()["eval"])["mse"]))
  assert mse == pytest.approx(outputs[0]["mse"], rel=1e-5)
