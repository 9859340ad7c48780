"""Convolutional autoencoder on mnist5k: stride-2 convs, dense code, sub-pixel decoder.

Fields: code=N sets the code size (default 32, as `ae.py` for a fair comparison).

  python -m experiments.main --config=experiments/configs/conv_ae.py --workdir=runs/conv_ae
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, fields = presets.parse_arg(arg, set(), {"code": 32})
  c = presets.autoencoder()
  c.model.name = "conv_ae"
  c.model.code_size = fields["code"]
  c.model.channels = (32, 64)
  c.model.activation = "elu"
  return presets.finalize(c, variants)
