"""Report figures as PNG files: grids, interpolation strips, training curves."""

import os

import numpy as np

from genlab.writers import image_grid, save_png


def pyplot():
  """matplotlib.pyplot with the headless backend (no display on clusters or CI).

  Imported on first use: it costs ~0.4 s, which every command (training included, which
  draws nothing) would pay at start-up.
  """
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def rows_png(path: str, rows: list[np.ndarray], scale: int = 3) -> str:
  """Stacks equally long rows of [0, 1] images (each [N, H, W, C]) into one PNG grid."""
  n = rows[0].shape[0]
  save_png(path, image_grid(np.concatenate(rows, 0), ncol=n), scale)
  return path


def interpolation_codes(h1: np.ndarray, h2: np.ndarray, steps: int) -> np.ndarray:
  """h = α·h₁ + (1 − α)·h₂ for α from 1 to 0: [pairs·steps, code]."""
  alphas = np.linspace(1.0, 0.0, steps)[None, :, None]
  codes = alphas * h1[:, None] + (1.0 - alphas) * h2[:, None]
  return codes.reshape(-1, h1.shape[-1])


def pick_pairs(labels: np.ndarray, n_pairs: int, seed: int = 0) -> np.ndarray:
  """Test index pairs, fixed by `seed`, with different labels where labels differ.

  Unlabelled data (all labels equal) gets arbitrary distinct pairs. Returns [n_pairs, 2].
  """
  rs = np.random.RandomState(seed)
  candidates = np.stack([rs.choice(len(labels), 2, replace=False)
                         for _ in range(max(50 * n_pairs, 100))])
  differ = labels[candidates[:, 0]] != labels[candidates[:, 1]]
  chosen = np.concatenate([candidates[differ], candidates[~differ]])
  return chosen[:n_pairs]


def training_curves(path: str, records: list[dict], keys: list[str]) -> str | None:
  """Plots each key of metrics.jsonl records against step (log-scale y where positive)."""
  keys = [k for k in keys if any(k in r for r in records)]
  if not keys:
    return None
  plt = pyplot()
  fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
  for ax, key in zip(axes[0], keys):
    pts = [(r["step"], r[key]) for r in records if key in r]
    steps, values = zip(*pts)
    ax.plot(steps, values, marker="." if len(pts) < 30 else None)
    if min(values) > 0:
      ax.set_yscale("log")
    ax.set_title(key)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def twin_curves(path: str, steps, left, left_name: str, right, right_name: str,
                title: str) -> str:
  """Two series against step on twin y axes (e.g. a critic's estimate and dFID)."""
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(5, 3))
  ax.plot(steps, left, color="tab:blue", marker=".")
  ax.set_ylabel(left_name, color="tab:blue")
  ax.set_xlabel("step")
  twin = ax.twinx()
  twin.plot(steps, right, color="tab:red", marker=".")
  twin.set_ylabel(right_name, color="tab:red")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def ensure_dir(path: str) -> str:
  os.makedirs(path, exist_ok=True)
  return path


def latent_scatter(path: str, codes: np.ndarray, labels: np.ndarray) -> str:
  """A 2-D scatter of codes coloured by label."""
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(5, 5))
  points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=6)
  fig.colorbar(points, ax=ax, label="class")
  ax.set_xlabel("z₁")
  ax.set_ylabel("z₂")
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path
