"""make bench's table (experiments.bench_table) and --vs_torch's arithmetic and refusals
(experiments.vs_torch), without timing anything."""

import os
import platform

import pytest

from conftest import load_config
from experiments import bench_table, vs_torch
from genlab import benchmark
from genlab.errors import UserError

_README = """
| config | command | steps | train time | figures | notes |
|---|---|---|---|---|---|
| `ae.py` | `python -m experiments.main --config=experiments/configs/ae.py --workdir=DIR` | 3000 | 28 s | x | y |
| `vae.py:ring8` | `python -m experiments.main --config=experiments/configs/vae.py:ring8 --workdir=DIR` | 5000 | 20 s | x | y |
| `biggan.py` | `python -m experiments.main --config=experiments/configs/biggan.py --workdir=DIR` | 3000 | 1,025 s CPU⁶ | x | y |
| `gan.py:ring8` | `python -m experiments.main --config=experiments/configs/gan.py:ring8 --workdir=DIR` | 25000 | – | x | y |
| `cyclegan.py:horse2zebra` | `python -m experiments.main --config=experiments/configs/cyclegan.py:horse2zebra --config.data.data_dir=/data/tfds --workdir=DIR` | 213400 | – | x | y |
"""


def test_readme_rows_are_the_trained_image_configs():
  assert bench_table.readme_rows(_README) == [("ae.py", 3000, 28.0),
                                              ("biggan.py", 3000, 1025.0)]


def test_the_repository_readme_lists_every_config_file():
  with open("README.md") as f:
    names = {arg.split(":")[0] for arg, _, _ in bench_table.readme_rows(f.read())}
  assert {"ae.py", "conv_ae.py", "vae.py", "dcgan.py", "cgan.py", "wgan.py", "sagan.py",
          "biggan.py", "progan.py", "pix2pix.py", "cyclegan.py"} <= names


def test_table_rows_carry_time_to_figure_and_failures():
  records = [dict(config="experiments/configs/ae.py", batch_size=128, step_ms=5.0,
                  images_per_s=25600.0, peak_fraction=0.5, pipeline_efficiency=0.95,
                  compile_s=0.9, smoke_compile_s=0.7, readme_steps=3000, readme_train_s=28.0),
             dict(config="biggan.py", error="boom")]
  text = bench_table.table(records, "2 CPU cores")
  assert "| `ae.py` | 128 | 5 ms | 25,600 | 0.50 | 0.95 | 0.9 s (0.7 s) | 15 s (3,000) | 28 s |" in text
  assert "| `biggan.py` | failed: boom |" in text


def test_side_by_side_reports_medians_and_the_ratio_spread():
  calls = {"g": 0, "t": 0}

  def sleeper(side, seconds):
    def run(n):
      calls[side] += n
      import time  # pylint: disable=import-outside-toplevel
      time.sleep(seconds)
    return run

  out = vs_torch.side_by_side(sleeper("g", 0.01), sleeper("t", 0.02), batch=8, steps=4,
                              rounds=3)
  assert calls == {"g": 16, "t": 16}  # a warm-up round and three timed rounds each
  assert out["vs_torch"] == pytest.approx(2.0, rel=0.3)
  low, high = out["vs_torch_range"]
  assert low <= out["vs_torch"] <= high
  assert out["genlab_images_per_s"] == pytest.approx(4 * 8 / 0.01, rel=0.3)


def test_vs_torch_refuses_models_without_a_twin():
  with pytest.raises(UserError, match="twin of the DCGAN and the MLP VAE only"):
    vs_torch.torch_twin(load_config("vae", "conv"))
  with pytest.raises(UserError, match="not of model 'conv_ae'"):
    vs_torch.torch_twin(load_config("conv_ae"))


_CPUINFO = """processor\t: {i}
model name\t: {model}
flags\t\t: fpu sse2 {flags}
"""


@pytest.mark.parametrize("model, flags, isa", [
    ("AMD EPYC", "avx2 avx512f avx512_bf16", "AVX-512"),
    ("Intel(R) Xeon(R) Platinum 8480C", "avx2 avx512f amx_tile amx_bf16", "AMX, AVX-512"),
    ("Intel(R) Core(TM) i7-8700", "avx avx2 fma", "AVX2"),
])
def test_records_name_the_cpu_its_vector_units_and_cores(model, flags, isa):
  text = "\n".join(_CPUINFO.format(i=i, model=model, flags=flags) for i in range(2))
  assert benchmark.cpu_description(text) == f"{model}, {isa}, {os.cpu_count()} cores"


def test_a_host_without_cpuinfo_is_named_by_its_platform():
  name = platform.processor() or platform.machine()
  assert benchmark.cpu_description("") == f"{name}, {os.cpu_count()} cores"
