"""Speed of one config: its jitted train step, and the whole loop around it.

  python -m experiments.benchmark --config=experiments/configs/NAME.py[:ARGS] [--steps=N] \
      [--loop_steps=M] [--config.KEY=VALUE ...]

Prints one JSON line:
  cpu              the host's CPU model, vector units and cores (genlab.benchmark.cpu_description)
  compile_s        lowering + compiling the train step (stage 0)
  step_ms          the compiled step's time on one resident batch after warm-up: the
                   median of 5 rounds of --steps / 5 back-to-back calls (dispatched as the
                   loop dispatches them, so the loop can match it)
  images_per_s     data.batch_size / step (× K for a population of K: its vmapped step)
  flops_per_step   XLA's cost analysis of the compiled step
  gflops, peak_fraction   achieved rate, and that over the `jnp.dot` peak (2048² float32
                   matmuls) measured in the same process, `peak_gflops`
  end_to_end_images_per_s  the real loop (genlab.train.run: data, logging, the config's
                   in-loop evaluation, sample grids and checkpoints) at its steady rate:
                   one run from scratch, timed over M steps after the first evaluation,
                   grid and checkpoint (so compilation and start-up fall outside), from
                   the run's own train/steps_per_sec records. M is whole periods of the
                   config's cadences (the lcm of log/eval/sample/checkpoint_every), at
                   least ~10 s of steps; --loop_steps sets it
  pipeline_efficiency      end-to-end ÷ images_per_s
  peak_rss_mb      the process's peak resident memory
With --vs_torch (the DCGAN and the MLP VAE; experiments/vs_torch.py), also:
  genlab_images_per_s, torch_images_per_s   the train step against a PyTorch CPU loop of
                   the same network, alternating --torch_rounds rounds of --torch_steps
                   steps in this process (medians)
  vs_torch, vs_torch_range   their ratio, and the range of the per-round ratios

`--loop_steps=0` skips the loop measurement. Staged (growing) models are timed at stage 0.
"""

import json

from absl import flags
from ml_collections import config_flags

from experiments import cli, features, vs_torch
from genlab import benchmark, experiment
from genlab.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiments/configs/NAME.py[:ARGS]",
                                          lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 50, "timed calls of the compiled step", lower_bound=1)
_LOOP_STEPS = flags.DEFINE_integer(
    "loop_steps", None, "steps of the loop's timed window, a multiple of its cadences' period "
    "(default: whole periods, ≥ ~10 s); 0 skips the loop", lower_bound=0)
_VS_TORCH = flags.DEFINE_bool("vs_torch", False, "also time a PyTorch twin side by side")
_TORCH_ROUNDS = flags.DEFINE_integer("torch_rounds", 5, "alternating rounds (--vs_torch)",
                                     lower_bound=1)
_TORCH_STEPS = flags.DEFINE_integer("torch_steps", 30, "steps per round and side (--vs_torch)",
                                    lower_bound=1)
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  config = _CONFIG.value
  experiment.validate(config)
  name = getattr(flags.FLAGS["config"], "config_filename", "")
  twin = vs_torch.torch_twin(config) if _VS_TORCH.value else None  # fails before timing
  record = benchmark.benchmark(config, _STEPS.value, _LOOP_STEPS.value, name,
                               features.for_training(config) if _LOOP_STEPS.value != 0 else None)
  if twin:
    torch_steps, record["torch"] = twin
    runner = benchmark.StepRunner(config)
    per_call = runner.per_call
    steps = -(-_TORCH_STEPS.value // per_call) * per_call  # whole calls
    record.update(vs_torch.side_by_side(runner.run, torch_steps, config.data.batch_size,
                                        steps, _TORCH_ROUNDS.value))
  print(json.dumps(record))


if __name__ == "__main__":
  cli.run_main(main)
