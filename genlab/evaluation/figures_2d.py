"""Scatter plots of 2-D samples over the modes of a toy mixture (ring8, grid25)."""

import os

import numpy as np

from genlab.evaluation.figures import pyplot
from genlab.metrics.modes import HQ_SIGMAS


def scatter_over_modes(path: str, samples: np.ndarray, centers: np.ndarray,
                       sigma: float, title: str | None = None) -> str:
  """Writes a PNG of samples with each mode's centre and 3σ circle.

  The circles are the high-quality regions of `genlab.metrics.modes`, so a
  reader can see which modes were recovered and how samples spread.

  Args:
    path: PNG file to write; its directory is created if missing.
    samples: [N, 2] points.
    centers: [K, 2] mode means.
    sigma: the modes' standard deviation.
    title: optional axes title.

  Returns:
    path.
  """
  samples = np.asarray(samples, dtype=np.float64)
  centers = np.asarray(centers, dtype=np.float64)
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  plt = pyplot()
  fig, ax = plt.subplots(figsize=(4, 4))
  # Modes underneath: with σ this small a sample cloud is a few pixels wide
  # and a marker on top would hide it.
  ax.scatter(centers[:, 0], centers[:, 1], s=8, marker="+", linewidths=0.5,
             color="tab:red", zorder=1)
  ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, linewidths=0,
             color="tab:blue", zorder=2)
  for cx, cy in centers:
    ax.add_patch(plt.Circle((cx, cy), HQ_SIGMAS * sigma, fill=False,
                            color="tab:red", linewidth=0.5, alpha=0.8, zorder=3))
  # Frame the modes, not the samples: a few far-off samples would otherwise
  # shrink the modes to dots. The count of samples left out is printed.
  span = np.ptp(centers, axis=0).max() if len(centers) > 1 else 1.0
  margin = 0.25 * span + HQ_SIGMAS * sigma
  low, high = centers.min(axis=0) - margin, centers.max(axis=0) + margin
  ax.set_xlim(low[0], high[0])
  ax.set_ylim(low[1], high[1])
  inside = np.all((samples >= low) & (samples <= high), axis=1)
  if not inside.all():
    ax.text(0.02, 0.02, f"{np.count_nonzero(~inside)} of {len(samples)} off-frame",
            transform=ax.transAxes, fontsize=7, color="gray")
  ax.set_aspect("equal")
  if title:
    ax.set_title(title, fontsize=9)
  ax.tick_params(labelsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
