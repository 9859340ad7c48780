"""Runs SIGKILLed five times at random points (once or more mid-save), resumed after each
kill, end bit-identical to an uninterrupted run: the AE, the VAE and a GAN with an EMA.
The harness is tests/fault_injection.py (`make faults` runs 20 trials per family)."""

import os
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

import fault_injection
import zygote

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it


class _Trials:
  """One trial per selected family, in a background thread (conftest.background_jobs)."""

  def __init__(self, families: list[str], root: str):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", **fault_injection.cache_env(root))
    self._zygote = zygote.Zygote(env, fault_injection.REPO_ROOT)
    self._pool = ThreadPoolExecutor(1)
    self.seed = random.SystemRandom().randrange(10**6)  # new kill points every session
    self.futures = {f: self._pool.submit(self._trial, f, root) for f in families}

  # Half of `make faults`' run (20 steps, a checkpoint every 4): the same kinds of kill
  # points in half the time.
  PLAN = (20, 4)

  def _trial(self, family: str, root: str):
    ref = fault_injection.reference(self._zygote, family, root, self.PLAN)
    return fault_injection.trial(self._zygote, family, root, ref, self.seed, self.PLAN)

  def close(self):
    self._pool.shutdown(wait=True, cancel_futures=True)
    self._zygote.close()


def start_background_jobs(selected: set, tmp_path_factory) -> _Trials:
  families = [f for f in fault_injection.FAMILIES if f"test_killed_runs_resume_bit_identically[{f}]"
              in selected]
  return _Trials(families, str(tmp_path_factory.mktemp("faults")))


@pytest.mark.parametrize("family", list(fault_injection.FAMILIES))
def test_killed_runs_resume_bit_identically(family, background_jobs):
  trials = background_jobs[__name__]
  points, differences = trials.futures[family].result()
  assert sum(p.endswith(":save") for p in points) >= 1 and len(points) == 5
  assert not differences, (f"killed at {', '.join(points)} (trial seed {trials.seed}; rerun: "
                           f"python tests/fault_injection.py --families={family}): "
                           + "; ".join(differences))
