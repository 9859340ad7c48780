"""Model registry: a name -> builder(model_config, data_info) -> flax Module."""

from typing import Any, Callable

import flax.linen as nn

from genlab.errors import UserError
from genlab.models import autoencoders, biggan, classifier, cycle, dcgan, gan, pix2pix, progan, vae
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
    raise UserError("model 'classifier' needs a labelled dataset")
  return classifier.ConvClassifier(
      num_classes=info["num_classes"], channels=tuple(cfg.channels),
      feature_size=cfg.feature_size, dropout=cfg.dropout)


def _gan_classes(cfg, info) -> int:
  """Classes a GAN conditions on: the dataset's when `conditional`, else 0."""
  num_classes = info["num_classes"] if cfg.conditional else 0
  if cfg.conditional and not num_classes:
    raise UserError(f"model {cfg.name!r} with conditional=True needs a labelled dataset")
  return num_classes


def _mlp_gan(cfg, info) -> nn.Module:
  num_classes = _gan_classes(cfg, info)
  # Images in [0, 1] through a sigmoid; points (the 2-D toy sets) are unbounded.
  output = "sigmoid" if info["modality"] == "images" else "linear"
  return gan.GAN(
      generator=gan.MLPGenerator(
          image_shape=tuple(info["image_shape"]), hidden=tuple(cfg.g_hidden),
          latent_size=cfg.latent_size, activation=cfg.activation, output=output,
          num_classes=num_classes),
      discriminator=gan.MLPDiscriminator(hidden=tuple(cfg.d_hidden), num_classes=num_classes))


def _dcgan(cfg, info) -> nn.Module:
  if info["modality"] != "images":
    raise UserError(f"model 'dcgan' needs an image dataset, not {info['modality']}")
  num_classes = _gan_classes(cfg, info)
  return gan.GAN(
      generator=dcgan.DCGANGenerator(
          image_shape=tuple(info["image_shape"]), latent_size=cfg.latent_size,
          channels=tuple(cfg.g_channels), upsample=cfg.upsample, num_classes=num_classes),
      discriminator=dcgan.DCGANDiscriminator(
          channels=tuple(cfg.d_channels), norm=cfg.d_norm,
          head_convs=cfg.get("d_head_convs", 0), num_classes=num_classes))


def _resnet_gan(cfg, info, hierarchical: bool) -> nn.Module:
  """SAGAN (hierarchical=False) or BigGAN (True): genlab.models.biggan."""
  if info["modality"] != "images":
    raise UserError(f"model {cfg.name!r} needs an image dataset, not {info['modality']}")
  num_classes = _gan_classes(cfg, info)
  sn = cfg.get("sn", True)
  return gan.GAN(
      generator=biggan.ResNetGenerator(
          image_shape=tuple(info["image_shape"]), latent_size=cfg.latent_size,
          channels=tuple(cfg.g_channels), num_classes=num_classes,
          attention_res=cfg.attention_res, hierarchical=hierarchical,
          embed_size=cfg.embed_size if hierarchical else 0, sn=sn),
      discriminator=biggan.ResNetDiscriminator(
          channels=tuple(cfg.d_channels), num_classes=num_classes,
          attention_res=cfg.attention_res, sn=sn))


def _progan(cfg, info) -> nn.Module:
  """ProGAN's growing G and D (genlab.models.progan), trained by the 'progan' game."""
  if info["modality"] != "images":
    raise UserError(f"model 'progan' needs an image dataset, not {info['modality']}")
  num_classes = _gan_classes(cfg, info)
  return progan.GrowingGAN(
      generator=progan.ProGANGenerator(
          image_shape=tuple(info["image_shape"]), latent_size=cfg.latent_size,
          channels=tuple(cfg.g_channels), num_classes=num_classes),
      discriminator=progan.ProGANDiscriminator(
          channels=tuple(cfg.d_channels), num_classes=num_classes))


def _sagan(cfg, info) -> nn.Module:
  return _resnet_gan(cfg, info, hierarchical=False)


def _biggan(cfg, info) -> nn.Module:
  return _resnet_gan(cfg, info, hierarchical=True)


def _cycle_mlp(cfg, info) -> nn.Module:
  if info.get("layout") != "unpaired":
    raise UserError(f"model 'cycle_mlp' needs an unpaired two-domain dataset (fields a, b); "
                    f"this one is {info.get('layout')!r}")
  return cycle.mlp_cycle_gan(cfg.g_hidden, cfg.d_hidden)


def _pix2pix(cfg, info) -> nn.Module:
  if info.get("layout") != "paired":
    raise UserError(f"model 'pix2pix' needs a paired dataset (fields source, target); "
                    f"this one is {info.get('layout')!r}")
  height, width, _ = info["image_shape"]
  channels = info["fields"]["target"]["shape"][-1]  # a sketch may map to colour
  n_down = cfg.d_layers or pix2pix.patch_layers(min(height, width))
  return pix2pix.Pix2Pix(
      generator=pix2pix.UNetGenerator(channels=tuple(cfg.g_channels), out_channels=channels,
                                      dropout=cfg.dropout, dropout_layers=cfg.dropout_layers),
      discriminator=pix2pix.PatchDiscriminator(features=cfg.d_features, n_down=n_down))


def _cycle_conv(cfg, info) -> nn.Module:
  """CycleGAN with Pix2Pix's networks: U-Net generators without dropout (the input skip
  lets G keep what both domains share) and PatchGAN discriminators."""
  if info.get("layout") != "unpaired":
    raise UserError(f"model 'cycle_conv' needs an unpaired two-domain dataset (fields a, b); "
                    f"this one is {info.get('layout')!r}")
  height, width, channels = info["image_shape"]
  n_down = cfg.d_layers or pix2pix.patch_layers(min(height, width))
  g = lambda: pix2pix.UNetGenerator(channels=tuple(cfg.g_channels), out_channels=channels,
                                    dropout=0.0)
  d = lambda: pix2pix.PatchDiscriminator(features=cfg.d_features, n_down=n_down)
  return cycle.CycleGAN(g_ab=g(), g_ba=g(), d_a=d(), d_b=d())


MODELS.register("mlp_ae", _mlp_ae)
MODELS.register("conv_ae", _conv_ae)
MODELS.register("vae", _vae)
MODELS.register("classifier", _classifier)
MODELS.register("mlp_gan", _mlp_gan)
MODELS.register("dcgan", _dcgan)
MODELS.register("sagan", _sagan)
MODELS.register("biggan", _biggan)
MODELS.register("progan", _progan)
MODELS.register("cycle_mlp", _cycle_mlp)
MODELS.register("pix2pix", _pix2pix)
MODELS.register("cycle_conv", _cycle_conv)


def build(model_config, data_info: dict) -> nn.Module:
  """Builds the module named by `model_config.name` for a dataset's `data_info`."""
  return MODELS.get(model_config.name)(model_config, data_info)
