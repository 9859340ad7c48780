"""Linear probes with few labels, and the PCA-at-equal-code-size baseline.

A probe asks how linearly readable the classes are from a representation when
only a few labels exist: fit a logistic regression on n labelled examples per
class (several random draws) and on all labels, and report test accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from genlab.errors import UserError


def _sklearn():
  """sklearn, imported on first use: the import takes ~2 s, which every command would
  otherwise pay at start-up, training included."""
  # pylint: disable=import-outside-toplevel
  import sklearn.decomposition
  import sklearn.linear_model
  import sklearn.preprocessing
  return sklearn

# lbfgs (multinomial) at C=1 on standardized features; no warning filters. Its
# iteration counts on mnist5k: all 4000 labelled pixels 83, 100/class
# 34-53, 10/class 24-28, and 1024-d ReLU features 25. 83 of 100 is too thin a
# margin for other features, so the cap is 1000; tol still decides when to stop.
_MAX_ITER = 1000
# These fits are small (≤ 4000 × ~1000) and threading only adds overhead: on
# the 2-core dev box under load, the default pixel probe (11 fits) took 18-38 s
# with BLAS/OpenMP threads and 1.3-1.8 s on one, with identical accuracies.
_NUM_THREADS = 1


def select_per_class(labels: np.ndarray, n_per_class: int, seed: int) -> np.ndarray:
  """Indices of exactly n_per_class examples of every class present in labels.

  Args:
    labels: int [N] class ids.
    n_per_class: examples to draw (without replacement) from each class.
    seed: seeds the draw; the same seed gives the same indices.

  Returns:
    int64 indices into labels, sorted ascending.

  Raises:
    ValueError: if n_per_class < 1 or some class has fewer than n_per_class examples.
  """
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
  if n_per_class < 1:
    raise ValueError(f"n_per_class must be ≥ 1, got {n_per_class}")
  classes, counts = np.unique(labels, return_counts=True)
  short = {int(c): int(n) for c, n in zip(classes, counts) if n < n_per_class}
  if short:
    raise UserError(f"{n_per_class} examples per class requested but these classes "
                    f"have fewer ({{class: count}}): {short}")
  rng = np.random.default_rng(seed)
  picks = [rng.choice(np.flatnonzero(labels == c), n_per_class, replace=False)
           for c in classes]
  return np.sort(np.concatenate(picks)).astype(np.int64)


def _fit_and_score(scaler, train_x, train_y, test_x, test_y) -> float:
  with threadpool_limits(_NUM_THREADS):
    clf = _sklearn().linear_model.LogisticRegression(max_iter=_MAX_ITER)
    clf.fit(scaler.transform(train_x), train_y)
    return float(clf.score(scaler.transform(test_x), test_y))


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                 test_y: np.ndarray, budgets: Sequence[int | None] = (10, 100, None),
                 draws: int = 5, seed: int = 0) -> dict[str, float]:
  """Test accuracy of a logistic-regression probe at several label budgets.

  Args:
    train_x: [N, D] features of the labelled pool.
    train_y: int [N] labels of the pool.
    test_x: [T, D] features to score on.
    test_y: int [T] labels to score against.
    budgets: examples per class; None means every training label.
    draws: random labelled subsets averaged for each finite budget.
    seed: base seed; draw i of every budget uses seed + i.

  Returns:
    {'acc_<n>', 'acc_<n>_std' for each finite n; 'acc_all' for None}; the std
    is over draws (ddof=0).
  """
  train_x = np.asarray(train_x, np.float64).reshape(len(train_x), -1)
  test_x = np.asarray(test_x, np.float64).reshape(len(test_x), -1)
  train_y, test_y = np.asarray(train_y), np.asarray(test_y)
  if len(train_x) != len(train_y) or len(test_x) != len(test_y):
    raise ValueError("features and labels differ in length")
  if draws < 1:
    raise ValueError(f"draws must be ≥ 1, got {draws}")
  # Standardized with the statistics of the whole training pool: they need no labels,
  # so a few-label learner has them too (semi-supervised setting). Fitting the scaler
  # on the 100 labelled digits alone cost pixels 3 points at 10 labels per class.
  scaler = _sklearn().preprocessing.StandardScaler().fit(train_x)
  result = {}
  for budget in budgets:
    if budget is None:
      result["acc_all"] = _fit_and_score(scaler, train_x, train_y, test_x, test_y)
      continue
    accs = []
    for i in range(draws):
      idx = select_per_class(train_y, budget, seed + i)
      accs.append(_fit_and_score(scaler, train_x[idx], train_y[idx], test_x, test_y))
    result[f"acc_{budget}"] = float(np.mean(accs))
    result[f"acc_{budget}_std"] = float(np.std(accs))
  return result


def pca_codes(train_x: np.ndarray, test_x: np.ndarray, k: int,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """k-component PCA codes fitted on train only: the equal-code-size baseline.

  Returns:
    (train_codes [N, k], test_codes [T, k]).
  """
  train_x = np.asarray(train_x).reshape(len(train_x), -1)
  test_x = np.asarray(test_x).reshape(len(test_x), -1)
  if not 1 <= k <= min(train_x.shape):
    raise ValueError(f"k must be in [1, {min(train_x.shape)}], got {k}")
  # covariance_eigh: one D×D eigendecomposition, far faster than SVD for N ≫ D.
  pca = _sklearn().decomposition.PCA(n_components=k, svd_solver="covariance_eigh",
                                     random_state=seed).fit(train_x)
  return pca.transform(train_x), pca.transform(test_x)
