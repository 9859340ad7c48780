"""CycleGAN (Zhu et al. 2017): four players on unpaired digits, mnist5k ↔ sklearn's 8×8 scans.

`mnist2sklearn`: domain a is mnist5k, domain b the 8×8 UCI digits framed like MNIST
(genlab.data.digit_translation); training sees no pairing and no labels. G_ab, G_ba are
Pix2Pix's U-Nets without dropout, D_a, D_b 16-px PatchGANs (genlab.models.pix2pix);
least-squares adversarial losses, cycle weight λ = 10, identity weight 0.5λ, each D fed
through a history pool of 50 fakes, Adam 2e-4 (b1 = 0.5) for every player, as in the
paper. Evaluation: `test/class_kept_ab`/`_ba` (the target domain's classifier keeps the
source's class), `test/cycle_l1`, and `samples/dfid_ab`/`_ba` against real targets.

  python -m experiments.main --config=experiments/configs/cyclegan.py --workdir=runs/cyclegan
  python -m experiments.main --config=experiments/configs/cyclegan.py:horse2zebra --config.data.data_dir=/data/tfds --workdir=runs/horse2zebra

Variants:
  toy   the smallest four-player game: MLP translators and discriminators on `digits_ab`
        (b = colour-inverted digits), identity weight 0.5, no pool
  horse2zebra  the paper's horses ↔ zebras, 256×256 photos from the tfds catalogue
        (`tfds:cycle_gan/horse2zebra`, prepared beforehand in data.data_dir; without it
        the run stops with the one-line recipe): 5-level U-Nets, 70-px PatchGANs, batch
        1, pool 50, identity 0.5λ; no sample scores (no classifier of horses)
"""

import ml_collections

from experiments.configs import presets
from genlab.errors import UserError


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, {"toy", "horse2zebra"})
  c = presets.gan()
  c.gan.game, c.gan.loss = "cycle", "least_squares"
  c.optim = ml_collections.ConfigDict(
      {p: presets.optim(learning_rate=2e-4, b1=0.5) for p in ("g_ab", "g_ba", "d_a", "d_b")})
  # A translation game draws no samples from a prior: no in-loop sample scores.
  c.monitor.sample_scores = False
  if "horse2zebra" in variants:
    if "toy" in variants:
      raise UserError("cyclegan variants toy and horse2zebra exclude each other")
    # Unpaired: trainA (1,067 horses) and trainB (1,334 zebras) as domains a and b, row i
    # holding a[i] and b[i mod n_b] (genlab.data.catalog_translation).
    c.data.name = "tfds:cycle_gan/horse2zebra"
    c.data.batch_size, c.data.eval_batch_size = 1, 20  # the paper's batch of 1
    c.model = ml_collections.ConfigDict(dict(
        name="cycle_conv", latent_size=0,
        # 256 px / 2^5: the bottom works at 8×8 (H must divide by 2^len). Not the
        # 8-level unet_256 down to 1×1: instance norm of a 1×1 map is 0.
        g_channels=(64, 128, 256, 512, 512), d_features=64,
        d_layers=3))  # the paper's 70×70 PatchGAN
    c.cycle = ml_collections.ConfigDict(dict(cycle_weight=10.0, identity_weight=5.0,
                                             pool_size=50))
    c.eval.num_samples = 0  # no labelled horses or zebras to train a feature net on
    # 200 epochs of 1,067 rows at the paper's constant 2e-4 (it decays linearly over
    # the last 100; genlab.optim has no linear decay).
    c.train.num_steps, c.train.eval_every, c.train.sample_every = 213_400, 10_000, 20_000
    c.train.checkpoint_every = 5_000
    return presets.finalize(c, variants)
  if "toy" in variants:
    c.data.name = "digits_ab"
    c.data.batch_size, c.data.eval_batch_size = 64, 359
    c.model = ml_collections.ConfigDict(dict(name="cycle_mlp", g_hidden=(128, 128),
                                             d_hidden=(128, 128), latent_size=0))
    c.cycle = ml_collections.ConfigDict(dict(cycle_weight=10.0, identity_weight=0.5,
                                             pool_size=0))
    c.eval.num_samples = 0
    c.train.num_steps, c.train.eval_every, c.train.sample_every = 3000, 500, 1000
    return presets.finalize(c, variants)
  c.data.name = "mnist2sklearn"
  c.data.batch_size, c.data.eval_batch_size = 16, 500
  c.model = ml_collections.ConfigDict(dict(
      name="cycle_conv", latent_size=0, g_channels=(32, 64), d_features=32,
      d_layers=0))  # D's stride-2 convs; 0: scaled to the image (pix2pix.patch_layers)
  c.cycle = ml_collections.ConfigDict(dict(
      cycle_weight=10.0,  # λ
      identity_weight=5.0,  # 0.5λ
      pool_size=50))  # fakes each D remembers (0: none)
  # Outputs a -> b are scored in sklearn28's classifier, b -> a in mnist5k's. The two
  # domains were written by different people, so each judge is trained to read other
  # writers' digits: warped (slant, width, size) on top of the shifts. Without it,
  # sklearn28's classifier puts 57 % of mnist5k's real test digits in their class, and
  # class_kept_ab measures handwriting as much as class (docs/translation.md).
  c.eval.feature_net_data = ml_collections.ConfigDict(dict(a="mnist5k", b="sklearn28"))
  c.eval.feature_net_augment = ml_collections.ConfigDict(
      dict(rotate=15.0, scale=0.2, shear=0.3))
  c.train.num_steps, c.train.eval_every, c.train.sample_every = 2000, 500, 1000
  return presets.finalize(c, variants)
