"""Pix2Pix (Isola et al. 2017): paired image-to-image translation, on `sketch2digit`.

G is a U-Net with skips (dropout its only noise), D a PatchGAN on the concatenated
(source, output), its receptive field scaled to the image (genlab.models.pix2pix: 16 px
on 28×28, the paper's 70 px on 256×256). G's loss is cGAN + λ·L1 with λ = 100; Adam
2e-4 (b1 0.5) for both, as in the paper. Evaluation scores G(A) against B (`test/l1`,
`test/psnr`, `test/ssim`) and the outputs' sample quality against real targets in the
mnist5k classifier's features (`samples/dfid` & co).

  python -m experiments.main --config=experiments/configs/pix2pix.py --workdir=runs/pix2pix

Variants:
  lowres     4× super-resolution (`lowres2digit`) instead of sketches
  l1_only    the same U-Net trained on L1 alone: the baseline (no D)
"""

import ml_collections

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, {"lowres", "l1_only"})
  c = presets.gan()
  c.data.name = "lowres2digit" if "lowres" in variants else "sketch2digit"
  c.data.batch_size, c.data.eval_batch_size = 32, 500
  c.model = ml_collections.ConfigDict(dict(
      name="pix2pix", latent_size=0,  # no z: dropout is G's noise
      g_channels=(64, 128), dropout=0.5,
      dropout_layers=1,  # decoder levels with dropout, from the bottom
      d_features=64,
      d_layers=0))  # D's stride-2 convs; 0: scaled to the image (pix2pix.patch_layers)
  c.sampler.condition = "image"
  c.gan.game = "pix2pix"
  c.pix2pix = ml_collections.ConfigDict(dict(
      l1_weight=100.0,  # λ of G's L1 term
      test_dropout=True,  # the paper's: G's dropout stays on at test time (its noise)
      adv_weight=0.0 if "l1_only" in variants else 1.0))  # 0: no D, L1 alone
  # Translations have no prior to sample: the test outputs are scored at evaluation.
  c.monitor.sample_scores = False
  c.eval.feature_net_data = "mnist5k"  # the labelled set the targets come from
  c.train.num_steps, c.train.eval_every, c.train.sample_every = 2000, 500, 1000
  return presets.finalize(c, variants)
