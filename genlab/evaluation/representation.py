"""What a learned code is good for: linear probes against pixels and PCA.

A family that has an encoder declares it (`StepFamily.encode`: (exp, state, uint8
images) -> codes [N, K]); the AE uses its code, the VAE its posterior mean. The probe reads
the grey (never binarized) splits, so every model and baseline sees the same inputs.
"""

import numpy as np

from genlab import data
from genlab.evaluation.split import apply_to_images
from genlab.metrics import probe


def autoencoder_codes(exp, state, images):
  """An AE's codes of uint8 `images`: [N, code_size] (or its conv code's shape)."""
  params = {"params": exp.params(state)}
  return apply_to_images(lambda x: exp.model.apply(params, x, method="encode"), images)


def vae_codes(exp, state, images):
  """A VAE's posterior means of uint8 `images`: [N, latent_size]."""
  params = {"params": exp.params(state)}
  return apply_to_images(lambda x: exp.model.apply(params, x, method="encode")[0], images)


def _flat(x):
  return np.asarray(x, np.float32).reshape(len(x), -1)


def probe_metrics(exp, state) -> dict:
  """`probe/acc_{10,100,all}` for the codes, pixels (`probe/pixels_*`) and PCA (`probe/pca_*`).

  Logistic regression on standardized features with 10 and 100 labels per class
  (mean of 5 random draws) and with every training label; test-split accuracy.
  """
  cfg = exp.config
  encode = exp.family.encode
  train_x, train_y = exp.train["image"], exp.train["label"]
  test_x, test_y = data.load_arrays(cfg.data.name, "test", cfg.data.data_dir or None)
  codes_tr, codes_te = _flat(encode(exp, state, train_x)), _flat(encode(exp, state, test_x))
  pix_tr, pix_te = _flat(train_x) / 255.0, _flat(test_x) / 255.0
  k = min(codes_tr.shape[1], pix_tr.shape[1])  # PCA cannot exceed the pixel count
  pca_tr, pca_te = probe.pca_codes(pix_tr, pix_te, k)
  out = {"probe/code_size": codes_tr.shape[1], "probe/pca_components": k}
  for prefix, (tr, te) in {"": (codes_tr, codes_te), "pixels_": (pix_tr, pix_te),
                           "pca_": (pca_tr, pca_te)}.items():
    for key, value in probe.linear_probe(tr, train_y, te, test_y).items():
      out[f"probe/{prefix}{key}"] = value
  return out
