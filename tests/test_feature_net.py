"""The domain feature network and the sample metrics on real digits.

The network is trained once per session (300 steps, cached in the session's data
dir); the sanity bars must hold for real data, not only for synthetic Gaussians.
"""

import os

import numpy as np
import pytest
from scipy import ndimage

from conftest import load_config
from experiments.features import classifier_config
from genlab.errors import UserError
from genlab import data, feature_nets, metrics, train
from genlab.metrics import sample_quality

pytestmark = pytest.mark.slow  # end-to-end: make test runs it, make test-fast skips it

STEPS = 300


@pytest.fixture(scope="module")
def net():
  return feature_nets.get(classifier_config("mnist5k", STEPS))


@pytest.fixture(scope="module")
def splits():
  return data.load_arrays("mnist5k", "train"), data.load_arrays("mnist5k", "test")


def test_cached_net_is_reused_not_retrained(net, monkeypatch):
  def no_training(*args, **kwargs):
    raise AssertionError("a cached feature net was retrained")
  monkeypatch.setattr(train, "run", no_training)
  config = classifier_config("mnist5k", STEPS)
  assert feature_nets.get(config) is net  # loaded and compiled once per process
  # A new process (an empty in-process table) reads the disk cache, never retrains.
  monkeypatch.setattr(feature_nets, "_LOADED", {})
  again = feature_nets.get(config)
  assert again is not net and again.name == net.name and again.accuracy == net.accuracy
  assert os.path.isfile(os.path.join(feature_nets.cache_dir(config), "feature_net.json"))
  assert net.name == os.path.basename(feature_nets.cache_dir(config))


def test_cache_key_separates_datasets_steps_and_architecture():
  dirs = {feature_nets.cache_dir(classifier_config(name, steps, augment=warp))
          for name, steps, warp in [("mnist5k", STEPS, None), ("mnist5k", STEPS + 1, None),
                                    ("digits", STEPS, None),
                                    ("mnist5k", STEPS, {"rotate": 15.0})]}
  assert len(dirs) == 4
  assert all(os.path.basename(d).split("-")[0] in ("mnist5k", "digits") for d in dirs)


def test_net_classifies_and_embeds(net, splits):
  _, (x_te, y_te) = splits
  assert net.accuracy > 0.9  # 300 steps; the evaluation default (3,000) reaches ≥ 0.98
  assert np.mean(net.predict(x_te) == y_te) == pytest.approx(net.accuracy, abs=1e-3)
  feats = net.features(x_te[:10])
  assert feats.shape == (10, 256) and np.all(np.isfinite(feats))
  # uint8 images and their [0, 1] floats are the same input.
  np.testing.assert_allclose(net.features(x_te[:10].astype(np.float32) / 255), feats, atol=1e-5)


def test_dfid_ranks_train_below_blur_below_noise(net, splits):
  (x_tr, _), (x_te, _) = splits
  real = net.features(x_te)
  blurred = ndimage.gaussian_filter(x_te.astype(np.float32), sigma=(0, 2, 2, 0))
  noise = np.random.default_rng(0).uniform(0, 1, x_te.shape).astype(np.float32)
  same = sample_quality.fid(real, net.features(x_tr[:len(x_te)]))
  blur = sample_quality.fid(real, net.features(blurred.astype(np.uint8)))
  rand = sample_quality.fid(real, net.features(noise))
  assert same < blur < rand
  assert same < 0.1 * rand


def test_train_split_has_high_precision_and_recall_against_test(net, splits):
  (x_tr, _), (x_te, _) = splits
  scores = sample_quality.prdc(net.features(x_te), net.features(x_tr[:len(x_te)]), k=3)
  assert scores["precision"] >= 0.8 and scores["recall"] >= 0.8


def test_one_digit_generator_is_flagged_as_collapsed(net, splits):
  (x_tr, y_tr), (x_te, _) = splits
  ones = x_tr[y_tr == 1]
  scores = sample_quality.prdc(net.features(x_te[:len(ones)]), net.features(ones), k=3)
  entropy = sample_quality.class_entropy(net.predict(ones), 10)
  assert entropy < 0.5 and scores["recall"] < 0.3
  assert sample_quality.class_entropy(net.predict(x_te), 10) > 2.2


def test_score_samples_stores_the_protocol(net, splits):
  _, (x_te, y_te) = splits
  config = load_config("ae", "smoke")
  config.eval.feature_net_steps = STEPS
  info = data.dataset_info("mnist5k")
  scores = metrics.score_samples(config, info, x_te[:300].astype(np.float32) / 255, y_te[:300],
                                 feature_net=net, real=x_te)
  assert scores["protocol/n_real"] == scores["protocol/n_fake"] == 300
  assert scores["protocol/feature_net"] == net.name
  assert scores["protocol/classifier_accuracy"] == net.accuracy
  assert scores["protocol/real_split"] == "test"
  assert scores["samples/class_accuracy"] == pytest.approx(net.accuracy, abs=0.05)
  for key in ("dfid", "dkid", "precision", "recall", "density", "coverage", "class_entropy"):
    assert np.isfinite(scores[f"samples/{key}"]), key


def test_score_samples_on_images_needs_the_feature_net(splits):
  _, (x_te, _) = splits
  info = data.dataset_info("mnist5k")
  with pytest.raises(ValueError, match="feature net"):  # metrics never train one
    metrics.score_samples(load_config("ae", "smoke"), info, x_te[:10] / 255.0)


def test_score_samples_on_points_uses_mode_coverage():
  config = load_config("vae", "grid25,smoke")
  info = data.dataset_info("grid25")
  points, _ = data.load_arrays("grid25", "test")
  scores = metrics.score_samples(config, info, points[:2500])
  assert scores["samples/modes"] == 25 and scores["samples/hq_fraction"] >= 0.98
  assert scores["protocol/n_fake"] == 2500


def test_warp_fields_are_checked_and_absent_unless_given():
  assert "rotate" not in classifier_config("mnist5k", STEPS).augment  # cache keys unchanged
  warped = classifier_config("mnist5k", STEPS, augment={"rotate": 15, "shear": 0.3})
  assert (warped.augment.rotate, warped.augment.shear) == (15.0, 0.3)
  with pytest.raises(UserError, match="no field 'rotat'.*rotate"):
    classifier_config("mnist5k", STEPS, augment={"rotat": 15})
