"""DCGAN (Radford et al. 2016) on mnist5k: conv G and D with batch norm, non-saturating loss.

G: z (64) -> 7×7×128 -> 14×14×64 -> 28×28×1, each 2× step exactly a 4×4 stride-2
transposed conv (`ConvTransposeUpsample`, fast on XLA:CPU), batch norm + ReLU, sigmoid
output. D: 4×4 stride-2 convs 64, 128 with leaky ReLU 0.2 and batch norm (not on the
first), then one 3×3 conv block at 7×7 (`model.d_head_convs`), one logit. Batch 64,
Adam(1.6e-3, b1 = 0.5) for both players, an EMA of G (decay 0.999) used for evaluation.
Notes (why the head, the learning rate and 4,000 steps; what was tried): docs/gans.md#dcgan

  python -m experiments.main --config=experiments/configs/dcgan.py --workdir=runs/dcgan

Sweep (`sweep()` below; docs/sweeps.md): G's and D's learning rates × D steps per G step.

  python -m experiments.sweep --config=experiments/configs/dcgan.py --workdir=runs/dcgan_sweep
"""

from experiments.configs import presets
from genlab import sweeps

SWEEP_METRIC = ("samples/dfid", "min")


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set())
  c = presets.dcgan()
  c.optim.g.learning_rate = c.optim.d.learning_rate = 1.6e-3
  c.model.d_head_convs = 1
  c.train.num_steps = 4000
  return presets.finalize(c, variants)


def sweep():
  """G lr × D lr {8e-4, 1.6e-3} × n_critic {1, 2}: 8 points around the default (1.6e-3, 1).

  About 9 minutes each on 2 CPU cores plus evaluation: run them as a SLURM array
  (`--emit=slurm`) or with `--parallel` on a machine with the cores.
  """
  return sweeps.grid({"optim.g.learning_rate": [8e-4, 1.6e-3],
                      "optim.d.learning_rate": [8e-4, 1.6e-3], "gan.n_critic": [1, 2]})
