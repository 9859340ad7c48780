"""Vanilla GAN (Goodfellow et al. 2014): MLP generator and discriminator on mnist5k.

The default is the non-saturating GAN: G and D are 3×256 MLPs (ReLU in G, leaky
ReLU in D), latent 64, Adam 2e-4 with b1 = 0.5 for both players, one D update
per G update, on grey pixels (no binarization).
Variants (comma-separated; `smoke` shrinks any of them):
  ns           the non-saturating G loss −log D(G(z)) (the default, accepted explicitly)
  minimax      the lecture's saturating G loss log(1 − D(G(z)))
  grid25       the 2-D 5×5 grid of 25 Gaussians (PacGAN protocol): latent 2, linear G output
  ring8        the same on the ring of 8 Gaussians
  grid25_best  grid25 + the mode-collapse remedy: R1 (γ 0.1) + an EMA of G (0.999), 50k steps
  ring8_best   ring8 + the same remedy (γ 0.01, Adam 1e-4), 25k steps
Notes (the collapse, the remedy measured over 3 seeds, PacGAN packing): docs/gans.md#toy-gans

  python -m experiments.main --config=experiments/configs/gan.py --workdir=runs/gan
  python -m experiments.main --config=experiments/configs/gan.py:grid25 --workdir=runs/gan_grid25
  python -m experiments.main --config=experiments/configs/gan.py:grid25_best --workdir=runs/gan_best
"""

from experiments.configs import presets
from genlab.errors import UserError


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(
      arg, {"ns", "minimax", "grid25", "ring8", "grid25_best", "ring8_best"})
  if {"ns", "minimax"} <= variants:
    raise UserError("choose one generator loss: 'ns' or 'minimax', not both")
  c = presets.gan()
  if "minimax" in variants:
    c.gan.loss = "minimax"
  # 11.5 ms per step at batch 128 on 2 shared CPU cores (niced, so an upper bound):
  # 10k steps (320 epochs of 4,000 digits) take about 2 minutes. Not yet tuned for dFID.
  c.train.num_steps = 10000
  toys = {"grid25", "ring8", "grid25_best", "ring8_best"} & variants
  if len(toys) > 1:
    raise UserError(f"choose one toy variant, not {' and '.join(sorted(toys))}")
  for toy in toys:
    best = toy.endswith("_best")
    toy = toy.removesuffix("_best")
    c.data.name = toy
    c.data.batch_size, c.data.eval_batch_size = 128, 1000
    # PacGAN's 2-D noise: a continuous G must stretch one connected latent over
    # disjoint modes, which is what makes mode dropping visible.
    c.model.latent_size = 2
    # The reference: a vanilla non-saturating 3×256 MLP GAN with Adam 2e-4
    # covers 13–15 of the 25 grid modes after 25k steps (5 ms per step here: ~2 min).
    c.train.num_steps = 25000
    c.eval.num_samples = 2500  # PacGAN's protocol size
    if best:  # see the docstring: R1 for coverage, an EMA of G for precision
      c.gan.ema_decay = 0.999
      # R1 penalizes ‖∇D‖² on the reals, which scales as 1/spread²: the ring's 5× finer
      # modes take a smaller γ (ring8 seed 0 at Adam 2e-4: HQ 0.964 at γ 0.1, 0.977 at 0.01).
      c.gan.r1_gamma = 0.1 if toy == "grid25" else 0.01
      # grid25's HQ fraction plateaus at ~0.92 from ~40k steps; ring8's (1e-4) creeps up.
      c.train.num_steps = 50000 if toy == "grid25" else 25000
      if toy == "ring8":  # seed 1's HQ: 0.925 at 2e-4 (a plateau from 10k steps), 0.954 here
        c.optim.g.learning_rate = c.optim.d.learning_rate = 1e-4
  return presets.finalize(c, variants)
