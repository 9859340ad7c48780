"""Mode-coverage metrics for the toy 2-D mixtures (PacGAN protocol).

Lin et al. (2018) score a generator on ring8 / grid25 from `PROTOCOL_SAMPLES`
samples: each sample is assigned to its nearest mode, it is "high quality"
(HQ) if it lies within 3σ of that mode, a mode is recovered if at least one HQ
sample is assigned to it, and the reverse KL compares the histogram of HQ
samples over modes with the true uniform distribution.
"""

from __future__ import annotations

import numpy as np

from genlab.data.toy import TOY_SETS

PROTOCOL_SAMPLES = 2500
HQ_SIGMAS = 3.0  # A sample within this many σ of its nearest mode is HQ.


def nearest_modes(samples: np.ndarray, centers: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  """Index of, and Euclidean distance to, each sample's nearest mode.

  Args:
    samples: [N, D].
    centers: [K, D].

  Returns:
    index: int64 [N] (ties go to the lower index); distance: float64 [N].
  """
  samples = np.asarray(samples, dtype=np.float64)
  centers = np.asarray(centers, dtype=np.float64)
  d2 = np.sum((samples[:, None, :] - centers[None, :, :]) ** 2, axis=-1)
  index = np.argmin(d2, axis=1)
  return index.astype(np.int64), np.sqrt(d2[np.arange(len(index)), index])


def mode_metrics(samples: np.ndarray, centers: np.ndarray,
                 sigma: float) -> dict[str, float | int]:
  """Modes recovered, HQ fraction and reverse KL of a set of samples.

  Args:
    samples: [N, 2] generated points, N ≥ 1 (`PROTOCOL_SAMPLES` in the
      protocol). Non-finite samples count as low quality.
    centers: [K, 2] mode means.
    sigma: the modes' standard deviation.

  Returns:
    modes: int, modes with at least one HQ sample nearest to them.
    hq_fraction: float, fraction of samples within 3σ (inclusive) of their
      nearest mode.
    reverse_kl: float, KL(p̂ ‖ uniform) = Σ p̂ log(K p̂) in nats, p̂ the
      histogram of HQ samples over modes, with 0·log 0 = 0. It is 0 for a
      perfectly balanced histogram and log K, its maximum, for a single mode.
      Without any HQ sample p̂ is undefined; we return log K, so that a
      generator with no HQ sample never scores better than one collapsed
      onto a single mode, and the value stays finite for averaging.
  """
  samples = np.asarray(samples, dtype=np.float64)
  centers = np.asarray(centers, dtype=np.float64)
  if samples.ndim != 2 or samples.shape[0] == 0:
    raise ValueError(f'samples must be a non-empty [N, D] array, got {samples.shape}')
  if centers.ndim != 2 or centers.shape[1] != samples.shape[1]:
    raise ValueError(
        f'centers {centers.shape} do not match samples {samples.shape}')
  num_modes = centers.shape[0]
  index, distance = nearest_modes(samples, centers)
  # NaN distances compare False, so diverged samples are never HQ.
  hq = distance <= HQ_SIGMAS * sigma
  counts = np.bincount(index[hq], minlength=num_modes)
  n_hq = int(counts.sum())
  if n_hq == 0:
    reverse_kl = float(np.log(num_modes))
  else:
    p = counts[counts > 0] / n_hq
    reverse_kl = float(np.sum(p * np.log(p * num_modes)))
  return {
      'modes': int(np.count_nonzero(counts)),
      'hq_fraction': float(hq.mean()),
      'reverse_kl': reverse_kl,
  }


def evaluate_toy(name: str, samples: np.ndarray) -> dict[str, float | int]:
  """`mode_metrics` against a `TOY_SETS` mixture, plus the sample count.

  Args:
    name: 'ring8' or 'grid25'.
    samples: [N, 2] generated points.

  Returns:
    `mode_metrics`'s dict plus 'protocol/n_fake': N (the protocol uses
    `PROTOCOL_SAMPLES`; other counts are not comparable with published
    numbers, since more samples recover more modes).
  """
  if name not in TOY_SETS:
    raise ValueError(f"unknown toy set '{name}'; known: {sorted(TOY_SETS)}")
  spec = TOY_SETS[name]
  metrics = mode_metrics(samples, spec.centers, spec.sigma)
  metrics['protocol/n_fake'] = int(np.shape(samples)[0])
  return metrics
