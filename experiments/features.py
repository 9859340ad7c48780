"""The feature net an experiment's sample scores need, from the classifier config.

The entry points ask here BEFORE training or evaluating, so the classifier is trained
(once per dataset, cached by genlab.feature_nets) outside any other run, and the
network is defined in one place: experiments/configs/classifier.py.
"""

from experiments.configs import classifier
from genlab import data, feature_nets
from genlab.errors import UserError
from genlab.evaluate import needs_feature_net
from genlab.steps.classification import WARP


def classifier_config(dataset: str, num_steps: int, data_dir: str = "", augment=None):
  """The locked config of the feature net for `dataset`.

  `augment` (None, or some of rotate / scale / shear: genlab.steps.classification's
  WARP fields) adds a random affine warp to the classifier's training. Those fields
  exist only when given, so a plain net's config, and with it its cache entry
  (a digest of the config), is what it was before the warp existed.
  """
  config = classifier.get_config(f"steps={num_steps}")
  with config.unlocked():
    config.data.name = dataset
    config.data.data_dir = data_dir
    for key, value in (augment or {}).items():
      if key not in WARP:
        raise UserError(f"eval.feature_net_augment has no field {key!r}; "
                        f"choose from {list(WARP)}")
      config.augment[key] = float(value)
  config.lock()
  return config


def _net(config, dataset: str):
  # eval.feature_net_augment: absent from most configs, and from workdirs made before it.
  return feature_nets.get(classifier_config(
      dataset, config.eval.feature_net_steps, config.data.data_dir,
      config.eval.get("feature_net_augment")))


def _get(config):
  """The dataset's FeatureNet; for a translation set, that of the labelled set its
  targets come from (`eval.feature_net_data`: a name, e.g. mnist5k for sketch2digit,
  or {field: name} for two domains), as a FeatureNet or {field: FeatureNet}."""
  source = config.eval.get("feature_net_data") or config.data.name
  if isinstance(source, str):
    return _net(config, source)
  return {field: _net(config, name) for field, name in source.items()}


def for_training(config):
  """The FeatureNet when the loop scores image samples at each evaluation, else None."""
  monitor = config.get("monitor")
  if monitor is None or not monitor.enabled or not monitor.get("sample_scores", False):
    return None
  info = data.dataset_info(config.data.name, config.data.data_dir or None)
  return _get(config) if info["modality"] == "images" else None


def for_evaluation(config):
  """The FeatureNet when evaluation scores image samples, else None."""
  info = data.dataset_info(config.data.name, config.data.data_dir or None)
  return _get(config) if needs_feature_net(config, info) else None
