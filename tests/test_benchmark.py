"""experiments.benchmark's measurements on a smoke config: present, positive, consistent."""

import pytest

from conftest import load_config
from genlab import benchmark
from genlab.errors import UserError

pytestmark = pytest.mark.slow  # builds, compiles and times real steps: make test only


@pytest.fixture(autouse=True)
def small_peak(monkeypatch):
  """The 2048² peak matmuls cost seconds of CPU; a 512² one checks the same arithmetic."""
  peak = benchmark.matmul_peak_gflops
  monkeypatch.setattr(benchmark, "matmul_peak_gflops", lambda: peak(n=512, repeats=3))


def test_benchmark_record_is_consistent():
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
  record = benchmark.benchmark(config, steps=5, loop_steps=0, name="ae.py:smoke")
  assert record["config"] == "ae.py:smoke" and record["batch_size"] == 32
  assert record["cpu"] == benchmark.cpu_description()
  for key in ("compile_s", "step_ms", "images_per_s", "flops_per_step", "gflops",
              "peak_gflops", "peak_rss_mb"):
    assert record[key] > 0, key
  # images/s and GFLOP/s are the same step time seen two ways.
  step_s = record["step_ms"] / 1e3
  assert abs(record["images_per_s"] - 32 / step_s) / record["images_per_s"] < 1e-2
  assert abs(record["gflops"] - record["flops_per_step"] / step_s / 1e9) < 0.02 * record["gflops"] + 0.01
  assert 0 < record["peak_fraction"] == round(record["gflops"] / record["peak_gflops"], 3)
  # The MLP AE's step: forward and backward through 64-512-256-32-256-512-64 at batch 32.
  macs = sum(a * b for a, b in [(64, 512), (512, 256), (256, 32)]) * 2
  assert 2 * 32 * macs * 2 < record["flops_per_step"] < 2 * 32 * macs * 4
  assert "pipeline_efficiency" not in record  # loop_steps=0 skips the loop


def test_a_population_times_its_vmapped_step_of_all_members():
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size, config.population = "digits", 120, 3
  record = benchmark.benchmark(config, steps=5, loop_steps=0)
  assert record["members"] == 3 and record["batch_size"] == 32
  assert abs(record["images_per_s"] - 3 * 32 / (record["step_ms"] / 1e3)) < 0.01 * record["images_per_s"]
  macs = sum(a * b for a, b in [(64, 512), (512, 256), (256, 32)]) * 2
  assert 3 * 2 * 32 * macs * 2 < record["flops_per_step"] < 3 * 2 * 32 * macs * 4


def test_fused_steps_count_per_step():
  # steps_per_call = 5: a call makes 5 steps; the record is per step, FLOPs included.
  config = load_config("ae", "smoke")
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
  one = benchmark.time_step(config, steps=10)
  with config.unlocked():
    config.train.steps_per_call = 5
  five = benchmark.time_step(config, steps=10)
  assert five["flops_per_step"] == pytest.approx(one["flops_per_step"], rel=0.05)
  assert five["step_s"] < 3 * one["step_s"]  # not a call's time (5 steps) read as one


def test_the_loop_is_timed_over_whole_periods_after_warm_up():
  config = load_config("ae", "smoke")  # logs every 5, evaluates, grids and saves every 10
  with config.unlocked():
    config.data.name, config.data.eval_batch_size = "digits", 120
  assert benchmark.loop_period(config) == 10
  record = benchmark.benchmark(config, steps=5, loop_steps=20)
  assert record["loop_steps"] == 20
  assert record["end_to_end_images_per_s"] > 0
  assert record["pipeline_efficiency"] == pytest.approx(
      record["end_to_end_images_per_s"] / record["images_per_s"], abs=1e-3)
  with pytest.raises(UserError, match="not a multiple of the loop's period, 10 steps"):
    benchmark.benchmark(config, steps=5, loop_steps=15)
