"""A small CNN classifier: the domain feature network of genlab's sample metrics.

Inception features do not describe 28×28 digits and need weights downloaded at run
time; a classifier trained on the dataset itself does neither (the "domain FID" of
many MNIST GAN papers). Its penultimate layer is the feature space.
"""

from typing import Sequence

import flax.linen as nn
import jax


# Part of the feature-net cache key: bump it whenever the network's code changes,
# so cached classifiers of an older architecture are never reused.
ARCHITECTURE = "cnn-s2-v2"


class ConvFeatures(nn.Module):
  """A stride-2 3×3 conv + ReLU per entry of `channels`, then a Dense ReLU layer.

  Strided convs rather than conv + max-pool: on XLA:CPU the max-pool gradient made
  the train step 8× slower (143 vs 17 ms at batch 128) for no accuracy the metrics need.
  """

  channels: Sequence[int]
  feature_size: int
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i, ch in enumerate(self.channels):
      x = nn.relu(nn.Conv(ch, (3, 3), strides=(2, 2), padding="SAME", name=f"conv_{i}")(x))
    x = nn.relu(nn.Dense(self.feature_size, name="dense")(x.reshape(x.shape[0], -1)))
    return nn.Dropout(self.dropout, deterministic=not train)(x)


class ConvClassifier(nn.Module):
  """ConvFeatures followed by a linear layer to class logits."""

  num_classes: int
  channels: Sequence[int] = (32, 64)
  feature_size: int = 128
  dropout: float = 0.0

  def setup(self):
    self.body = ConvFeatures(self.channels, self.feature_size, self.dropout)
    self.head = nn.Dense(self.num_classes)

  def features(self, x: jax.Array) -> jax.Array:
    """The penultimate activations [B, feature_size] for images in [0, 1]."""
    return self.body(x)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    """Class logits [B, num_classes]."""
    return self.head(self.body(x, train))
