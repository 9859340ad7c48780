"""Stacked (deep) MLP autoencoder with optional greedy layer-wise pre-training.

Depth and width are fields, so deep and shallow compare at equal code size:
  depth=N   hidden layers per side (default 3: 784-512-256-128-32)
  width=W   the first hidden width; each deeper layer halves it
Variants:
  layerwise  greedy pre-training, one shallow AE per layer on frozen codes, then fine-tuning
  shallow    depth 1 (784-512-32), the comparison point

  python -m experiments.main --config=experiments/configs/stacked_ae.py:layerwise --workdir=runs/stacked
"""

from experiments.configs import presets


def get_config(arg: str | None = None):
  variants, fields = presets.parse_arg(arg, {"layerwise", "shallow"},
                                       {"depth": 3, "width": 512, "code": 32})
  c = presets.autoencoder()
  depth = 1 if "shallow" in variants else fields["depth"]
  c.model.hidden = tuple(max(fields["width"] // 2**i, fields["code"]) for i in range(depth))
  c.model.code_size = fields["code"]
  if "layerwise" in variants:
    c.train.layerwise_steps = 1000
    c.train.num_steps += c.train.layerwise_steps * (depth + 1)
  return presets.finalize(c, variants)
