"""Evaluation of translation games: the same-class L1 yardstick of a cycle's error."""

import numpy as np
import pytest

from genlab.evaluate import _same_class_l1  # pylint: disable=protected-access


def _constant_images(values) -> np.ndarray:
  return np.broadcast_to(np.asarray(values, np.uint8)[:, None, None, None],
                         (len(values), 4, 4, 1)).copy()


def test_same_class_l1_is_the_mean_distance_to_another_image_of_the_class():
  # Domain a: class 0 = {0, 51}, class 1 = {102, 255} (pixel values of constant images);
  # the repeated 0 counts once. Domain b: one class {0, 255}.
  split = {"a": _constant_images([0, 51, 102, 255, 0]), "a_label": np.array([0, 0, 1, 1, 0]),
           "b": _constant_images([0, 255]), "b_label": np.array([3, 3])}
  got = _same_class_l1(split, ["a", "b"])
  assert got["baseline/same_class_l1_a"] == pytest.approx((0.2 + 0.2 + 0.6 + 0.6) / 4)
  assert got["baseline/same_class_l1_b"] == pytest.approx(1.0)
  assert got["baseline/same_class_l1"] == pytest.approx(0.7)


def test_a_class_with_one_image_has_no_partner():
  split = {"a": _constant_images([0, 51, 200]), "a_label": np.array([0, 0, 1])}
  assert _same_class_l1(split, ["a"])["baseline/same_class_l1_a"] == pytest.approx(0.2)
