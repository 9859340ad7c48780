"""ProGAN (Karras et al. 2018) on mnist5k at 32 px: G and D grow 4 -> 8 -> 16 -> 32 px.

Each resolution is a stage (500, 1,000, 1,000, 1,500 steps); entering one adds a block to
G and to D, faded in linearly over the first half of the stage (α in the log, the
checkpoint and the report). Pixel normalization in G, minibatch stddev in D, equalized
learning rate in both, WGAN-GP with the drift term, an EMA of G for sampling. Each stage
is compiled once. The report shows the sample grid at the end of every stage.

  python -m experiments.main --config=experiments/configs/progan.py --workdir=runs/progan

Variants (the real-data ones read a prepared data_dir; see presets.PROGAN_DATA):
  cifar10     tfds:cifar10, 4 -> 32 px, 256 wide, 20,000 steps per stage
  imagenet64  tfds:imagenet_resized/64x64, 4 -> 64 px, 20,000 steps per stage
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set(presets.PROGAN_DATA))
  return presets.finalize(presets.progan(variants), variants)
