"""Vanilla GAN (Goodfellow et al. 2014): MLP generator and discriminator on mnist5k.

The default is the non-saturating GAN: G and D are 3×256 MLPs (ReLU in G, leaky
ReLU in D), latent 64, Adam 2e-4 with b1 = 0.5 for both players, one D update
per G update, on grey pixels (no binarization).
Variants (comma-separated; `smoke` shrinks any of them):
  ns        the non-saturating G loss −log D(G(z)) (the default, accepted explicitly)
  minimax   the lecture's saturating G loss log(1 − D(G(z))): weak gradients early on,
            when D rejects every fake
  grid25    the 2-D toy mixture of 25 Gaussians on a 5×5 grid (PacGAN protocol):
            latent 2, linear G output, mode coverage of 2,500 samples
  ring8     the same on the ring of 8 Gaussians

  python -m experiments.main --config=experiments/configs/gan.py --workdir=runs/gan
  python -m experiments.main --config=experiments/configs/gan.py:grid25 --workdir=runs/gan_grid25
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, {"ns", "minimax", "grid25", "ring8"})
  if {"ns", "minimax"} <= variants:
    raise ValueError("choose one generator loss: 'ns' or 'minimax', not both")
  c = presets.gan()
  c.eval.probe = False  # a GAN has no encoder to probe
  if "minimax" in variants:
    c.gan.loss = "minimax"
  # 11.5 ms per step at batch 128 on 2 shared CPU cores (niced, so an upper bound):
  # 10k steps (320 epochs of 4,000 digits) take about 2 minutes. Not yet tuned for dFID.
  c.train.num_steps = 10000
  toys = {"grid25", "ring8"} & variants
  if len(toys) > 1:
    raise ValueError("choose one toy set: 'grid25' or 'ring8', not both")
  for toy in toys:
    c.data.name = toy
    c.data.batch_size, c.data.eval_batch_size = 128, 1000
    # PacGAN's 2-D noise: a continuous G must stretch one connected latent over
    # disjoint modes, which is what makes mode dropping visible.
    c.model.latent_size = 2
    # The reference: a vanilla non-saturating 3×256 MLP GAN with Adam 2e-4
    # covers 13–15 of the 25 grid modes after 25k steps (5 ms per step here: ~2 min).
    c.train.num_steps = 25000
    c.eval.num_samples = 2500  # PacGAN's protocol size
  return presets.finalize(c, variants)
