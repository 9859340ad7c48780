"""SAGAN (Zhang et al. 2019) on mnist5k at 32 px: self-attention GAN, class-conditional.

G: z (128) -> 4×4×64 -> three up-sampling residual blocks (8, 16, 32 px) with
class-conditional batch norm (gains and shifts from the label), a self-attention block
at 16×16 (learned γ from 0) -> sigmoid. D: three down-sampling residual blocks with
self-attention at 16×16, one more residual block, global sum pool, one logit plus the
projection term <embed(y), h>. Spectral norm on every G and D layer (power-iteration
state in the 'spectral' collection), hinge loss, TTUR: Adam 1e-4 for G, 4e-4 for D.
Batch 16 for 6,000 steps (96,000 image-steps, ~13 CPU-minutes); samples from an EMA of G
(0.999, warmed up). Measured against the cGAN: docs/large_gans.md.

  python -m experiments.main --config=experiments/configs/sagan.py --workdir=runs/sagan
  python -m experiments.main --config=experiments/configs/sagan.py:cifar10 --workdir=...

Variants (the real-data ones read a prepared data_dir; see presets.RESNET_GAN_DATA):
  cifar10     tfds:cifar10 at 32 px, 256 wide
  imagenet64  tfds:imagenet_resized/64x64, 1,000 classes, 4 blocks, attention at 32 px
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set(presets.RESNET_GAN_DATA))
  return presets.finalize(presets.resnet_gan("sagan", variants), variants,
                          smoke_batch_size=presets.RESNET_GAN_SMOKE_BATCH)
