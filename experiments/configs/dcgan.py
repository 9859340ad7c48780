"""DCGAN (Radford et al. 2016) on mnist5k: conv G and D with batch norm, non-saturating loss.

G: z (64) -> 7×7×128 -> 14×14×64 -> 28×28×1, each 2× step exactly a 4×4 stride-2
transposed conv (`ConvTransposeUpsample`, fast on XLA:CPU), batch norm + ReLU,
sigmoid output. D: 4×4 stride-2 convs 64, 128 with leaky ReLU 0.2 and batch norm
(not on the first), one logit. Batch 64, Adam b1 = 0.5 as in the paper, but a learning
rate of 8e-4 for both players and an EMA of G (decay 0.999) used for evaluation:
measured on mnist5k (single core, in-loop scores of 1,000 samples), the paper's 2e-4
gave dFID 375 at step 3,000 and 243 at 6,000 (with EMA); 4e-4 (the preset, which
`cgan.py` keeps) 263 at 3,000 and 227 at 4,000; 8e-4 226 at 3,000 and 196 at 4,000.
README "GANs" lists the other changes tried for precision (none helped).

  python -m experiments.main --config=experiments/configs/dcgan.py --workdir=runs/dcgan
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set())
  c = presets.dcgan()
  c.gan.g_lr = c.gan.d_lr = 8e-4
  return presets.finalize(c, variants)
