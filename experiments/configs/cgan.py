"""Conditional DCGAN (Mirza & Osindero 2014) on mnist5k: G and D both see the class.

G gets the one-hot label y concatenated to z; D adds a projection term
<embed(y), features> to its logit (Miyato & Koyama 2018), the conditioning that
keeps class information in D's whole feature vector. Otherwise `dcgan.py`.
`experiments.sample --label=K` draws class K; evaluation draws the classes in turn
and reports `samples/class_accuracy`.

  python -m experiments.main --config=experiments/configs/cgan.py --workdir=runs/cgan
  python -m experiments.sample --workdir=runs/cgan --num=64 --label=3 --out=threes.npy
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set())
  c = presets.dcgan()
  c.model.conditional = True
  return presets.finalize(c, variants)
