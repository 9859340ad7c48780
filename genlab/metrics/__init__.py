"""Sample-quality metrics, computed offline and stored with their protocol.

`score_samples` is what evaluation calls: for image datasets it embeds N samples
and N real test images with the dataset's own classifier (a genlab.metrics.feature_net
FeatureNet, which the caller gets from genlab.feature_nets) and reports dFID, dKID, precision/recall/density/coverage and class statistics; for
the 2-D toy sets it reports PacGAN's mode coverage. Every result carries `protocol/*`
keys so a number is never separated from how it was measured.
"""

from __future__ import annotations

import numpy as np

from genlab.errors import UserError
from genlab.metrics import modes, sample_quality

PRDC_K = 3
REAL_SPLIT = "test"


def score_samples(config, info: dict, fake: np.ndarray,
                  requested_labels: np.ndarray | None = None, *, feature_net=None,
                  real: np.ndarray | None = None) -> dict:
  """Scores generated samples against the dataset; keys `samples/*` and `protocol/*`.

  Args:
    config: the experiment config (data.name).
    info: `genlab.data.dataset_info` of the dataset.
    fake: samples, [N, H, W, C] in [0, 1] (images) or [N, 2] (points).
    requested_labels: [N] classes a conditional model was asked for, or None.
    feature_net: images: the dataset's FeatureNet (from genlab.feature_nets).
    real: images: the real images of the `REAL_SPLIT` split, uint8 (never binarized).
  """
  if info.get("modality") == "points":
    scores = modes.evaluate_toy(config.data.name, fake)
    return {k if k.startswith("protocol/") else f"samples/{k}": v for k, v in scores.items()}
  if feature_net is None or real is None:
    raise UserError("scoring image samples needs the dataset's feature net and its real "
                    f"{REAL_SPLIT} images (genlab.feature_nets.get; experiments.features)")
  net = feature_net
  n = min(len(real), len(fake))
  real, fake = real[:n], fake[:n]
  if requested_labels is not None:
    requested_labels = requested_labels[:n]
  real_f, fake_f = net.features(real), net.features(fake)
  # Subsets of half the samples: the unbiased MMD² has the same mean at any subset
  # size, and halves make the spread across subsets informative.
  kid_mean, kid_std = sample_quality.kid(real_f, fake_f, subset_size=max(2, n // 2))
  predicted = net.predict(fake)
  out = {
      "samples/dfid": sample_quality.fid(real_f, fake_f),
      "samples/dkid": kid_mean,
      "samples/dkid_std": kid_std,
      **{f"samples/{k}": v for k, v in sample_quality.prdc(real_f, fake_f, PRDC_K).items()},
      "samples/class_entropy": sample_quality.class_entropy(predicted, net.num_classes),
  }
  if requested_labels is not None:
    out["samples/class_accuracy"] = sample_quality.class_accuracy(predicted, requested_labels)
  out.update({
      "protocol/n_real": n,
      "protocol/n_fake": n,
      "protocol/real_split": REAL_SPLIT,
      "protocol/feature_net": net.name,
      "protocol/classifier_accuracy": net.accuracy,
      "protocol/prdc_k": PRDC_K,
  })
  return out
