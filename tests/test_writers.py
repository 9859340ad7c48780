"""genlab.writers: the TensorBoard writer starts without importing PyTorch."""

import subprocess
import sys

import pytest

from conftest import REPO_ROOT

_PROBE = """
import os, sys
from genlab import writers
w = writers.MetricWriter(sys.argv[1])
w.scalars(1, {"test/mse": 0.5})
w.close()
events = os.listdir(os.path.join(sys.argv[1], "tensorboard"))
print("torch" in sys.modules, sum(os.path.getsize(os.path.join(sys.argv[1], "tensorboard", e))
                                  for e in events) > 0)
"""


@pytest.mark.slow  # a fresh interpreter
def test_tensorboard_events_are_written_without_importing_torch(tmp_path):
  pytest.importorskip("torch")  # only where PyTorch is installed can it be imported by accident
  proc = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path)], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=120, check=True)
  assert proc.stdout.split() == ["False", "True"]
