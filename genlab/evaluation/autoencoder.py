"""Evaluation of the reconstruction family: errors, a PCA baseline, figures."""

import os

import jax
import jax.numpy as jnp
import numpy as np

from genlab.evaluation import figures
from genlab.evaluation.split import means
from genlab.state import num_params


def pca_baseline_mse(train: np.ndarray, test: np.ndarray, code_size: int) -> float:
  """Test MSE of PCA with `code_size` components fitted on the train split."""
  x_tr = train.reshape(len(train), -1).astype(np.float32) / 255.0
  x_te = test.reshape(len(test), -1).astype(np.float32) / 255.0
  k = min(code_size, x_tr.shape[1], len(x_tr))
  # Imported on use: sklearn takes ~2 s to import, which every command would pay.
  from sklearn.decomposition import PCA  # pylint: disable=import-outside-toplevel
  pca = PCA(n_components=k, svd_solver="covariance_eigh", random_state=0).fit(x_tr)
  recon = pca.inverse_transform(pca.transform(x_te))
  return float(np.mean(np.square(recon - x_te)))


def evaluate(exp, state, workdir: str, rng: jax.Array) -> tuple[dict, dict]:
  """Scores an AE on the test split and draws its figures.

  Returns:
    (metrics for eval.json, {figure title: PNG path relative to workdir}).
  """
  cfg = exp.config
  images = exp.test["image"]
  result = means(exp.evaluate_split(state, rng), "test")
  result["baseline/pca_mse"] = pca_baseline_mse(exp.train["image"], images, cfg.model.code_size)
  if cfg.model.code_size < np.prod(images.shape[1:]):
    # With as many components as pixels PCA is exact and the ratio is meaningless.
    result["test/mse_over_pca"] = result["test/mse"] / result["baseline/pca_mse"]
  result["model/params"] = num_params(state.params)
  result["config/code_size"] = cfg.model.code_size
  if cfg.sparsity.beta > 0:
    result["config/rho"] = cfg.sparsity.rho
    result["config/beta"] = cfg.sparsity.beta
  else:
    result.pop("test/mean_activation", None)  # only meaningful for a sigmoid sparse code
  if cfg.noise.mask_prob > 0 or cfg.noise.gaussian_std > 0:
    result["config/mask_prob"] = cfg.noise.mask_prob
    result["config/gaussian_std"] = cfg.noise.gaussian_std
    result["test/psnr_gain"] = result["test/psnr_denoised"] - result["test/psnr_noisy"]
  return result, _figures(exp, state, workdir)


def _figures(exp, state, workdir: str) -> dict:
  model, params = exp.model, {"params": exp.params(state)}
  images, labels = exp.test["image"], exp.test["label"]
  out_dir = figures.ensure_dir(os.path.join(workdir, "report"))
  shown = {k: v[:16] for k, v in exp.test.items()}
  rows = jax.device_get(jax.jit(exp.fns.visualize)(state, shown))
  figs = {"Reconstructions (top: input, bottom: reconstruction)":
          figures.rows_png(os.path.join(out_dir, "reconstructions.png"),
                           [rows["input"], rows["reconstruction"]])}
  if "denoised" in rows:
    figs["Denoising (clean, corrupted, denoised)"] = figures.rows_png(
        os.path.join(out_dir, "denoising.png"), [rows["input"], rows["noisy"], rows["denoised"]])

  pairs = figures.pick_pairs(labels, 6)
  x = jnp.asarray(images[pairs.reshape(-1)], jnp.float32) / 255.0
  codes = np.asarray(model.apply(params, x, method="encode")).reshape(len(pairs), 2, -1)
  steps = 10
  interp = figures.interpolation_codes(codes[:, 0], codes[:, 1], steps)
  decoded = np.asarray(jax.nn.sigmoid(model.apply(params, jnp.asarray(interp), method="decode")))
  figs["Latent interpolation h = αh₁ + (1−α)h₂, α from 1 to 0 (one pair per row)"] = (
      figures.rows_png(os.path.join(out_dir, "interpolation.png"),
                       list(decoded.reshape(len(pairs), steps, *decoded.shape[1:]))))
  return {k: os.path.relpath(v, workdir) for k, v in figs.items()}
