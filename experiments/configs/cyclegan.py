"""A toy CycleGAN (Zhu et al. 2017): four players on unpaired 8×8 digits (`digits_ab`).

Domain a is sklearn's digits, domain b the colour-inverted digits of other examples
(genlab.data.two_domain). G_ab, G_ba are MLP translators, D_a, D_b MLP discriminators,
least-squares adversarial losses, cycle weight 10 and identity weight 0.5 as in the
paper, Adam 2e-4 (b1 = 0.5) for every player. It is the smallest four-player game: the
test that the game, the typed batches and the checkpoint carry any number of networks.
The paper's ResNet generator, PatchGAN and image pool come with the image-to-image work.

  python -m experiments.main --config=experiments/configs/cyclegan.py --workdir=runs/cyclegan
"""

import ml_collections

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, _ = presets.parse_arg(arg, set())
  c = presets.gan()
  c.data.name = "digits_ab"
  c.data.batch_size, c.data.eval_batch_size = 64, 359
  c.model = ml_collections.ConfigDict(dict(name="cycle_mlp", g_hidden=(128, 128),
                                           d_hidden=(128, 128), latent_size=0))
  c.gan.game, c.gan.loss = "cycle", "least_squares"
  c.optim = ml_collections.ConfigDict(
      {p: presets.optim(learning_rate=2e-4, b1=0.5) for p in ("g_ab", "g_ba", "d_a", "d_b")})
  c.cycle = ml_collections.ConfigDict(dict(cycle_weight=10.0, identity_weight=0.5))
  # A translation game draws no samples from a prior: no sample scores, no sampler.
  c.monitor.sample_scores = False
  c.eval.num_samples = 0
  c.train.num_steps, c.train.eval_every, c.train.sample_every = 3000, 500, 1000
  return presets.finalize(c, variants)
