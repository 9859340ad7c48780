"""Denoising autoencoder: masking noise (v = 0.5), loss against the clean input.

Variants:
  over   overcomplete ReLU code of 1024, one hidden layer (used by the linear probe)
  gauss  additive Gaussian noise σ = 0.3 instead of masking
Fields: v= (masking probability), sigma= (Gaussian std).

  python -m experiments.main --config=experiments/configs/denoising_ae.py --workdir=runs/dae
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, fields = presets.parse_arg(arg, {"over", "gauss"}, {"v": 0.5, "sigma": 0.0})
  c = presets.autoencoder()
  c.noise.mask_prob = fields["v"]
  c.noise.gaussian_std = fields["sigma"]
  if "gauss" in variants:
    c.noise.mask_prob, c.noise.gaussian_std = 0.0, fields["sigma"] or 0.3
  c.model.name = "conv_ae"
  c.model.code_size = 128
  c.model.channels = (32, 64)
  c.model.activation = "elu"
  if "over" in variants:
    c.model.name = "mlp_ae"
    c.model.hidden = ()
    c.model.code_size = 1024
    c.model.code_activation = "relu"
    c.model.activation = "relu"
  return presets.finalize(c, variants)
