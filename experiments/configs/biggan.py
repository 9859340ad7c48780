"""BigGAN (Brock et al. 2019) on mnist5k at 32 px: SAGAN's networks, scaled up in the
ways that made BigGAN.

Over `sagan.py`: one shared class embedding (32) feeds every conditional BN; z (128)
is split into 4 chunks, one for G's input and one per block, each concatenated with
the embedding to make that block's gains and shifts (hierarchical latent); orthogonal
regularization of G's kernels (β = 1e-4); an EMA of G (0.999, with its own standing
batch statistics) for evaluation and sampling; the truncation trick at sampling time
(`experiments.sample --truncation=τ`; the report plots precision, recall and class
accuracy against τ).

  python -m experiments.main --config=experiments/configs/biggan.py --workdir=runs/biggan
  python -m experiments.sample --workdir=runs/biggan --num=64 --label=3 --truncation=0.5 --out=s.npy

Variants (the real-data ones read a prepared data_dir; see presets.RESNET_GAN_DATA):
  cifar10     tfds:cifar10 at 32 px, 256 wide
  imagenet64  tfds:imagenet_resized/64x64, 1,000 classes, 4 blocks, attention at 32 px
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set(presets.RESNET_GAN_DATA))
  return presets.finalize(presets.resnet_gan("biggan", variants), variants,
                          smoke_batch_size=presets.RESNET_GAN_SMOKE_BATCH)
