"""Writes N samples of a trained workdir to a .npy file: (N, H, W, C) images in [0, 1],
or (N, 2) points for the 2-D toy sets.

  python -m experiments.sample --workdir=DIR --num=N --out=FILE.npy [--label=K] [--seed=S] \
      [--truncation=TAU]

`--truncation` draws a GAN's latents from N(0, I) truncated to [−τ, τ] (the truncation
trick) instead of the run's `sampler` setting.

Samples are drawn and written CHUNK at a time (draw i of a longer run from
fold_in(seed key, i); up to CHUNK samples are one draw, as before), so memory never
limits --num; the file must fit on its disk, which is checked after the first draw,
before the file is created. The file appears complete or not at all (FILE.npy.partial
while writing).
"""

import dataclasses
import os

import jax
import numpy as np
from absl import flags

from experiments import cli
from genlab import experiment, families, writers
from genlab.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "a workdir trained by experiments.main")
_NUM = flags.DEFINE_integer("num", 64, "number of samples", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "output .npy path")
_LABEL = flags.DEFINE_integer("label", None, "class to sample (class-conditional draw)")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed", lower_bound=0,
                             upper_bound=experiment.SEED_RANGE - 1)
_TRUNCATION = flags.DEFINE_float("truncation", None, "GANs: truncate the prior to [-τ, τ]",
                                 lower_bound=0.0)
flags.mark_flags_as_required(["workdir", "out"])

CHUNK = 1000  # samples per draw


def check_out(path: str) -> None:
  """A one-line UserError unless `path` can become a new .npy file; writes nothing."""
  if not path.endswith(".npy"):
    raise UserError(f"--out must end in .npy, got {path!r}")
  if os.path.isdir(path):
    raise UserError(f"--out {path!r} is a directory; name a .npy file (in it, say)")
  parent = os.path.dirname(path) or "."
  if not os.path.isdir(parent):
    what = "is a file, not a directory" if os.path.exists(parent) else "does not exist"
    raise UserError(f"--out {path!r}: {parent!r} {what}; create the directory first")
  if not experiment.writable(parent):
    raise UserError(f"--out {path!r}: {parent!r} is read-only; choose a writable directory")


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  out = _OUT.value
  check_out(out)
  config = experiment.load_config(_WORKDIR.value)
  if families.get(config.step_family).sample is None:  # before restoring anything
    raise UserError(f"step family {config.step_family!r} does not sample")
  exp, state = experiment.restore(_WORKDIR.value)
  if _TRUNCATION.value is not None:
    if exp.fns.sampler is None:
      raise UserError("--truncation needs a model that samples a latent prior (a GAN)")
    sampler = dataclasses.replace(exp.fns.sampler, truncation=_TRUNCATION.value)
    exp = dataclasses.replace(exp, fns=dataclasses.replace(exp.fns, sampler=sampler))
  num, rng = _NUM.value, jax.random.key(_SEED.value)
  chunk = CHUNK
  if exp.fns.translate is not None:
    chunk = num  # translations of the first --num test examples: at most the test split
  elif exp.fns.sampler is not None and exp.fns.sampler.condition == "label":
    classes = exp.fns.sampler.num_classes  # each draw cycles through every class
    chunk = max(1, CHUNK // classes) * classes
  draw = lambda n, i: exp.family.sample(exp, state, n, rng if i == 0 else
                                        jax.random.fold_in(rng, i), _LABEL.value)
  shape = writers.write_in_chunks(out, draw, num, chunk)
  print(f"wrote {shape} samples to {out}")


if __name__ == "__main__":
  cli.run_main(main)
