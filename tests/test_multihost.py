"""Multi-host through the real entry point: two processes on 127.0.0.1, joined by
`experiments.main --jax_coordinator=... --jax_num_processes=2 --jax_process_id=I`, train
the AE smoke config and end where one process does with the same global batch.

Each process reads its own half of the training split, so the order examples are drawn
in depends on the process count. With the global batch equal to the whole split (the 8×8
digits: 1,438 examples, 719 per process) every step sees every example in both runs, and
the parameters must agree up to the order of float sums.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.scale]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CONFIG = ["--config=experiments/configs/ae.py:smoke", "--config.data.name=digits",
           "--config.data.batch_size=1438", "--config.data.eval_batch_size=120"]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env():
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device each
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _main(workdir, *flags, **kw):
  return subprocess.Popen([sys.executable, "-m", "experiments.main", *_CONFIG,
                           f"--workdir={workdir}", *flags], cwd=ROOT, env=_env(), text=True,
                          **kw)


def _params(workdir):
  script = ("import sys, jax, numpy as np; from genlab import experiment; "
            "exp, state = experiment.restore(sys.argv[1]); "
            "print(int(state.step)); "
            "np.save(sys.argv[1] + '/params.npy', np.concatenate("
            "[np.ravel(x) for x in jax.tree.leaves(state.params)]))")
  out = subprocess.run([sys.executable, "-c", script, str(workdir)], cwd=ROOT, env=_env(),
                       capture_output=True, text=True, timeout=300, check=True)
  return int(out.stdout.split()[-1]), np.load(f"{workdir}/params.npy")


def test_two_processes_train_like_one(tmp_path):
  port = _free_port()
  two = tmp_path / "two"
  # Files, not pipes: a peer blocked on a full pipe would stall the collectives.
  logs = [open(tmp_path / f"{i}.log", "w+") for i in (0, 1)]
  procs = [_main(two, f"--jax_coordinator=127.0.0.1:{port}", "--jax_num_processes=2",
                 f"--jax_process_id={i}", stdout=log, stderr=subprocess.STDOUT)
           for i, log in enumerate(logs)]
  one = _main(tmp_path / "one", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  try:
    out_one = one.communicate(timeout=300)[0]
    for proc, log in zip(procs, logs):
      proc.wait(timeout=300)
      log.seek(0)
      assert proc.returncode == 0, log.read()[-3000:]
  finally:
    for proc in procs:  # a hung peer must not outlive the test
      if proc.poll() is None:
        proc.kill()
        proc.wait()
    for log in logs:
      log.close()
  assert one.returncode == 0, out_one[-3000:]
  # Only process 0 wrote the metrics: one record per logged step, none twice.
  with open(two / "metrics.jsonl") as f:
    records = [(r["step"], tuple(sorted(r))) for r in map(json.loads, f)]
  assert len(records) == len(set(records)) and max(s for s, _ in records) == 20
  step_one, params_one = _params(tmp_path / "one")
  step_two, params_two = _params(two)
  assert step_one == step_two == 20
  # 20 steps of float sums in another order: relative to the whole parameter vector.
  assert np.linalg.norm(params_two - params_one) < 1e-5 * np.linalg.norm(params_one)


@pytest.mark.parametrize("flags, message", [
    (["--jax_num_processes=2"], "--jax_coordinator, --jax_process_id missing"),
    (["--jax_coordinator=localhost", "--jax_num_processes=2", "--jax_process_id=0"],
     "is not HOST:PORT"),
    (["--jax_coordinator=127.0.0.1:1", "--jax_num_processes=2", "--jax_process_id=2"],
     "--jax_process_id 2 is not in 0..1"),
])
def test_incomplete_cluster_flags_are_one_line_errors(tmp_path, flags, message):
  proc = _main(tmp_path / "w", *flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 2
  assert err.strip().splitlines() == [f"error: {err.strip()[7:]}"] and message in err
  assert not (tmp_path / "w").exists()
