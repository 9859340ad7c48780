"""MLP autoencoder on mnist5k (784-512-256-32-256-512-784, MSE, Adam).

Variants (comma-separate them; `smoke` shrinks any of them to seconds):
  under  code 32 (the default): undercomplete bottleneck
  over   code 1024: overcomplete
  tied   the lecture's one-layer tied AE: h = s(Wx + b), x̂ = s(Wᵀh + b′)
  sgd    plain SGD (lr 10 on the per-pixel mean loss) instead of AdamW
Fields: code=N sets the code size.

  python -m experiments.main --config=experiments/configs/ae.py:under --workdir=runs/ae

Sweep (`sweep()` below; docs/sweeps.md): code size × learning rate, 4 points.

  python -m experiments.sweep --config=experiments/configs/ae.py --workdir=runs/ae_sweep
"""

from experiments.configs import presets
from genlab import sweeps

SWEEP_METRIC = ("test/mse", "min")


def get_config(arg: str | None = None):
  variants, fields = presets.parse_arg(arg, {"under", "over", "tied", "sgd"}, {"code": 32})
  c = presets.autoencoder()
  c.model.code_size = 1024 if "over" in variants else fields["code"]
  if "tied" in variants:
    c.model.hidden = ()
    c.model.tied = True
    c.model.code_activation = "sigmoid"
    # A sigmoid code learns slower than a linear one (as in sparse_ae.py).
    c.optim.learning_rate, c.train.num_steps = 3e-3, 6000
  if "sgd" in variants:
    c.optim.name = "sgd"
    # The MSE is a mean over 784 pixels, so its gradients are ~1/784 of a summed
    # loss's: lr 10 here is lr ≈ 0.013 on the per-image sum (measured: 0.5 -> 0.050
    # test MSE, 5 -> 0.018, 10 -> 0.015).
    c.optim.learning_rate = 10.0
  return presets.finalize(c, variants)


def sweep():
  """Code size {16, 64} × learning rate {3e-4, 3e-3}, around the defaults (32, 1e-3).

  Four points, so that the `smoke` sweep (tests/test_sweep.py) stays well under a minute
  on 2 CPU cores; the full one trains 4 × ~30 s.
  """
  return sweeps.grid({"model.code_size": [16, 64], "optim.learning_rate": [3e-4, 3e-3]})
