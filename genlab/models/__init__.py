"""Model registry: a name -> builder(model_config, data_info) -> flax Module."""

from typing import Any, Callable

import flax.linen as nn

from genlab.models import autoencoders, classifier, vae
from genlab.registry import Registry

ModelBuilder = Callable[[Any, dict], nn.Module]
MODELS: Registry[ModelBuilder] = Registry("model")


def _mlp_ae(cfg, info) -> nn.Module:
  return autoencoders.MLPAutoencoder(
      image_shape=tuple(info["image_shape"]), hidden=tuple(cfg.hidden),
      code_size=cfg.code_size, activation=cfg.activation,
      code_activation=cfg.code_activation, tied=cfg.get("tied", False))


def _conv_ae(cfg, info) -> nn.Module:
  return autoencoders.ConvAutoencoder(
      image_shape=tuple(info["image_shape"]), channels=tuple(cfg.channels),
      code_size=cfg.code_size, activation=cfg.activation,
      code_activation=cfg.code_activation)


def _vae(cfg, info) -> nn.Module:
  return vae.VAE(
      image_shape=tuple(info["image_shape"]), latent_size=cfg.latent_size,
      hidden=tuple(cfg.hidden), channels=tuple(cfg.channels), activation=cfg.activation,
      learn_sigma=cfg.learn_sigma, init_log_sigma=cfg.init_log_sigma)


def _classifier(cfg, info) -> nn.Module:
  if not info["num_classes"]:
    raise ValueError("model 'classifier' needs a labelled dataset")
  return classifier.ConvClassifier(
      num_classes=info["num_classes"], channels=tuple(cfg.channels),
      feature_size=cfg.feature_size, dropout=cfg.dropout)


MODELS.register("mlp_ae", _mlp_ae)
MODELS.register("conv_ae", _conv_ae)
MODELS.register("vae", _vae)
MODELS.register("classifier", _classifier)


def build(model_config, data_info: dict) -> nn.Module:
  """Builds the module named by `model_config.name` for a dataset's `data_info`."""
  return MODELS.get(model_config.name)(model_config, data_info)
