"""Writes N samples of a trained workdir to a .npy file: (N, H, W, C) images in [0, 1],
or (N, 2) points for the 2-D toy sets.

  python -m experiments.sample --workdir=DIR --num=N --out=FILE.npy [--label=K] [--seed=S] \
      [--truncation=TAU]

`--truncation` draws a GAN's latents from N(0, I) truncated to [−τ, τ] (the truncation
trick) instead of the run's `sampler` setting.
"""

import dataclasses

import jax
import numpy as np
from absl import flags

from experiments import cli
from genlab import experiment
from genlab.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "a workdir trained by experiments.main")
_NUM = flags.DEFINE_integer("num", 64, "number of samples", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "output .npy path")
_LABEL = flags.DEFINE_integer("label", None, "class to sample (class-conditional draw)")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_TRUNCATION = flags.DEFINE_float("truncation", None, "GANs: truncate the prior to [-τ, τ]",
                                 lower_bound=0.0)
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _OUT.value.endswith(".npy"):
    raise UserError(f"--out must end in .npy, got {_OUT.value!r}")
  exp, state = experiment.restore(_WORKDIR.value)
  if exp.family.sample is None:
    raise UserError(f"step family {exp.config.step_family!r} does not sample")
  if _TRUNCATION.value is not None:
    if exp.fns.sampler is None:
      raise UserError("--truncation needs a model that samples a latent prior (a GAN)")
    sampler = dataclasses.replace(exp.fns.sampler, truncation=_TRUNCATION.value)
    exp = dataclasses.replace(exp, fns=dataclasses.replace(exp.fns, sampler=sampler))
  samples = exp.family.sample(exp, state, _NUM.value, jax.random.key(_SEED.value),
                              _LABEL.value)
  np.save(_OUT.value, samples.astype(np.float32))
  print(f"wrote {samples.shape} samples to {_OUT.value}")


if __name__ == "__main__":
  cli.run_main(main)
