"""genlab's train step against a PyTorch CPU loop of the same network, side by side.

`python -m experiments.benchmark --config=... --vs_torch` (torch is not a dependency:
`pip install torch==2.13.0`, the CPU wheel). Two configs have a PyTorch twin here:

  dcgan   `model.name == 'dcgan'`: G z -> Dense 7×7×C0 -> BN, ReLU -> 4×4 s2 transposed
          convs (BN + ReLU between) -> sigmoid; D 4×4 s2 convs (BN on all but the first),
          leaky ReLU 0.2, `d_head_convs` 3×3 conv + BN blocks, one logit. One step: a D
          update on a real batch and a batch of fakes (fresh z), then a G update on fresh
          fakes, non-saturating loss, Adam with the config's learning rates and β1.
  vae     `model.name == 'vae'` without convs: MLP encoder (`hidden`, ReLU) to a Gaussian
          posterior, decoder back to Bernoulli logits; dynamic binarization, the
          reparameterized ELBO, AdamW with the config's rate, decay and cosine schedule.

genlab's side is its real jitted train step (genlab.benchmark, with the config's
`train.steps_per_call`, as the loop runs it), which also does what genlab's step does
beyond the twin (e.g. the DCGAN's EMA of G with its own batch statistics). The rounds
alternate between the two so drift in machine load hits both; each side's figure is
its median over rounds, and the ratio's spread is the range of per-round ratios.
"""

import math
import statistics
import time

from genlab.errors import UserError


def _require_torch():
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise UserError("--vs_torch needs PyTorch: pip install torch==2.13.0 "
                    "(the CPU wheel; genlab itself does not use it)") from e
  return torch


def _dcgan(config, torch):
  from torch import nn  # pylint: disable=import-outside-toplevel
  m, batch = config.model, config.data.batch_size
  height, width, channels = 28, 28, 1
  g_ch, d_ch = tuple(m.g_channels), tuple(m.d_channels)
  h0, w0 = height >> len(g_ch), width >> len(g_ch)
  g_layers = [nn.Linear(m.latent_size, h0 * w0 * g_ch[0], bias=False),
              nn.BatchNorm1d(h0 * w0 * g_ch[0]), nn.ReLU(), nn.Unflatten(1, (g_ch[0], h0, w0))]
  for c_in, c_out in zip(g_ch, g_ch[1:]):
    g_layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                 nn.ReLU()]
  g_layers += [nn.ConvTranspose2d(g_ch[-1], channels, 4, 2, 1), nn.Sigmoid()]
  d_layers, c_in = [], channels
  for i, c_out in enumerate(d_ch):
    d_layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
    d_layers += ([nn.BatchNorm2d(c_out)] if i else []) + [nn.LeakyReLU(0.2)]
    c_in = c_out
  for _ in range(m.d_head_convs):
    d_layers += [nn.Conv2d(c_in, c_in, 3, 1, 1, bias=False), nn.BatchNorm2d(c_in),
                 nn.LeakyReLU(0.2)]
  side = height >> len(d_ch)
  d_layers += [nn.Flatten(), nn.Linear(c_in * side * side, 1)]
  g, d = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
  adam = lambda net, o: torch.optim.Adam(net.parameters(), o.learning_rate, betas=(o.b1, o.b2))
  opt_g, opt_d = adam(g, config.optim.g), adam(d, config.optim.d)
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch, channels, height, width)
  ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

  def steps(n):
    for _ in range(n):
      fake = g(torch.randn(batch, m.latent_size))
      opt_d.zero_grad()
      (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
      opt_d.step()
      opt_g.zero_grad()
      bce(d(g(torch.randn(batch, m.latent_size))), ones).backward()
      opt_g.step()
  return steps


def _mlp_vae(config, torch):
  from torch import nn  # pylint: disable=import-outside-toplevel
  m, batch, o = config.model, config.data.batch_size, config.optim
  pixels = 28 * 28
  widths = (pixels, *m.hidden)
  enc = nn.Sequential(*[layer for a, b in zip(widths, widths[1:])
                        for layer in (nn.Linear(a, b), nn.ReLU())],
                      nn.Linear(widths[-1], 2 * m.latent_size))
  back = (m.latent_size, *reversed(m.hidden))
  dec = nn.Sequential(*[layer for a, b in zip(back, back[1:])
                        for layer in (nn.Linear(a, b), nn.ReLU())],
                      nn.Linear(back[-1], pixels))
  params = [*enc.parameters(), *dec.parameters()]
  opt = torch.optim.AdamW(params, o.learning_rate, betas=(o.b1, o.b2),
                          weight_decay=o.weight_decay)
  total = config.train.num_steps
  sched = torch.optim.lr_scheduler.LambdaLR(
      opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
  grey = torch.rand(batch, pixels)

  def steps(n):
    for _ in range(n):
      x = torch.bernoulli(grey)  # dynamic binarization, as genlab's step does
      mean, logvar = enc(x).chunk(2, dim=-1)
      z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
      rec = nn.functional.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") / batch
      kl = 0.5 * torch.sum(mean ** 2 + logvar.exp() - 1 - logvar) / batch
      opt.zero_grad()
      (rec + config.vae.beta * kl).backward()
      opt.step()
      sched.step()
  return steps


def torch_twin(config):
  """(n -> run n PyTorch train steps, description) for the config's architecture."""
  name = config.model.get("name")
  twins = {"dcgan": _dcgan, "vae": _mlp_vae}
  if name not in twins or (name == "vae" and config.model.channels):
    raise UserError(f"--vs_torch has a PyTorch twin of the DCGAN and the MLP VAE only, "
                    f"not of model {name!r}{' with convs' if name == 'vae' else ''}")
  torch = _require_torch()
  steps = twins[name](config, torch)
  return steps, f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"


def side_by_side(genlab_steps, torch_steps, batch: int, steps: int, rounds: int) -> dict:
  """Alternating rounds of `steps` steps each side -> medians and the ratio's spread.

  `genlab_steps(n)` / `torch_steps(n)` run n train steps and wait for them.
  """
  genlab_steps(steps)  # warm-up: compilation, allocation, torch's first-call paths
  torch_steps(steps)
  rates = {"genlab": [], "torch": []}
  for _ in range(rounds):
    for side, run in (("genlab", genlab_steps), ("torch", torch_steps)):
      start = time.perf_counter()
      run(steps)
      rates[side].append(steps * batch / (time.perf_counter() - start))
  ratios = [g / t for g, t in zip(rates["genlab"], rates["torch"])]
  ours, theirs = statistics.median(rates["genlab"]), statistics.median(rates["torch"])
  return dict(genlab_images_per_s=round(ours, 1), torch_images_per_s=round(theirs, 1),
              vs_torch=round(ours / theirs, 3),
              vs_torch_range=[round(min(ratios), 3), round(max(ratios), 3)],
              vs_torch_rounds=rounds, vs_torch_steps=steps)
