"""DCGAN train-step speed: genlab (JAX, XLA:CPU) against PyTorch, side by side in one run.

Both sides train the same architecture (experiments/configs/dcgan.py: G 64 -> 7×7×128
-> 4×4 s2 transposed conv 64 -> 4×4 s2 transposed conv 1, batch norm + ReLU, sigmoid;
D 4×4 s2 convs 64, 128 with batch norm on the second, leaky ReLU, then
`model.d_head_convs` 3×3 conv + batch norm + leaky ReLU blocks at 7×7, one logit) with
the same step: one D update on a real batch and a batch of fakes, then one G update
on fresh fakes, non-saturating loss, Adam(2e-4, 0.5, 0.999). genlab's side is the
real jitted `train_step` of the adversarial family; PyTorch's is the usual eager
loop (`torch.optim.Adam`, `BCEWithLogitsLoss`). Rounds alternate between the two so
drift in machine load hits both; the figure is the median over rounds.

  pip install torch==2.13.0   # not a dependency of genlab
  python -m experiments.bench_dcgan [--batch=64] [--upsample=adjoint,subpixel,transpose] [--torch_threads=N]
      [--d_head_convs=K]
"""

import statistics
import time

from absl import app, flags
import jax

from experiments.configs import dcgan as dcgan_config
from genlab import experiment as experiment_lib

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 64, "Batch size of both players (real and fake each).")
flags.DEFINE_list("upsample", ["adjoint", "subpixel", "transpose"], "genlab upsamplers to time.")
flags.DEFINE_integer("steps", 30, "Timed train steps per round and side.")
flags.DEFINE_integer("rounds", 5, "Alternating rounds; the median img/s is reported.")
flags.DEFINE_integer("torch_threads", 0, "torch.set_num_threads; 0 keeps PyTorch's default.")
flags.DEFINE_integer("d_head_convs", None,
                     "D's 3×3 head blocks on both sides; default: dcgan.py's.")


def genlab_runner(upsample: str, batch: int, head_convs: int):
  config = dcgan_config.get_config()
  with config.unlocked():
    config.model.upsample = upsample
    config.model.d_head_convs = head_convs
    config.data.batch_size = batch
  exp = experiment_lib.build(config)
  state = exp.init_state()
  batch_arrays = {k: jax.device_put(v[:batch]) for k, v in exp.train.items()}
  step = jax.jit(exp.fns.train_step, donate_argnums=0)
  rng = exp.rngs()["train"]
  holder = {"state": state}

  def run(n):
    s = holder["state"]
    for _ in range(n):
      s, metrics = step(s, batch_arrays, rng)
    jax.block_until_ready(metrics)
    holder["state"] = s
  return run


def torch_runner(batch: int, head_convs: int, latent: int = 64):
  import torch  # optional: only this benchmark needs it
  from torch import nn

  if FLAGS.torch_threads:
    torch.set_num_threads(FLAGS.torch_threads)

  g = nn.Sequential(
      nn.Linear(latent, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128), nn.ReLU(),
      nn.Unflatten(1, (128, 7, 7)),
      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Sigmoid())
  d = nn.Sequential(
      nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
      nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
      *[layer for _ in range(head_convs) for layer in
        (nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2))],
      nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  real = torch.rand(batch, 1, 28, 28)
  ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

  def run(n):
    for _ in range(n):
      fake = g(torch.randn(batch, latent))
      opt_d.zero_grad()
      (bce(d(real), ones) + bce(d(fake.detach()), zeros)).backward()
      opt_d.step()
      opt_g.zero_grad()
      bce(d(g(torch.randn(batch, latent))), ones).backward()
      opt_g.step()
  return run, torch.__version__, torch.get_num_threads()


def main(argv):
  del argv
  batch = FLAGS.batch
  head_convs = FLAGS.d_head_convs
  if head_convs is None:
    head_convs = dcgan_config.get_config().model.d_head_convs
  runners = {f"genlab/{u}": genlab_runner(u, batch, head_convs) for u in FLAGS.upsample}
  runners["torch"], version, threads = torch_runner(batch, head_convs)
  for run in runners.values():
    run(3)  # compile / warm up
  rates = {name: [] for name in runners}
  for _ in range(FLAGS.rounds):
    for name, run in runners.items():
      start = time.perf_counter()
      run(FLAGS.steps)
      rates[name].append(FLAGS.steps * batch / (time.perf_counter() - start))
  ref = statistics.median(rates["torch"])
  print(f"DCGAN train step, batch {batch}, D head convs {head_convs}, "
        f"{FLAGS.steps} steps × {FLAGS.rounds} rounds; "
        f"PyTorch {version} ({threads} threads), jax {jax.__version__}")
  for name, r in rates.items():
    med = statistics.median(r)
    print(f"  {name:18s} {med:7.0f} img/s  ({min(r):.0f}–{max(r):.0f})  "
          f"{med / ref:.2f}× PyTorch")


if __name__ == "__main__":
  app.run(main)
