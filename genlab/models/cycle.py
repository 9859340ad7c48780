"""Two-domain translation models: two generators and two discriminators under one module.

`CycleGAN` holds G_ab (a → b), G_ba (b → a), D_a and D_b as submodules named after the
game's players ('g_ab', 'g_ba', 'd_a', 'd_b'), so the step can split the variables by
player. Any image-to-image generator `(x, train) -> y` and discriminator
`(x, labels, train) -> logits` plug in; `MLPTranslator` is the small one for toy data
(the paper's ResNet generator and PatchGAN come with the image-to-image work).
"""

import math
from typing import Sequence

import flax.linen as nn
import jax

from genlab.models.gan import MLPDiscriminator
from genlab.nn import MLP

PLAYERS = ("g_ab", "g_ba", "d_a", "d_b")


class MLPTranslator(nn.Module):
  """An image x [B, H, W, C] in [0, 1] -> an image of the same shape in [0, 1]."""

  hidden: Sequence[int] = (128, 128)
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no batch norm or dropout
    out = MLP((*self.hidden, math.prod(x.shape[1:])), self.activation,
              final_activation="sigmoid", name="mlp")(x.reshape(x.shape[0], -1))
    return out.reshape(x.shape)


class CycleGAN(nn.Module):
  """G_ab, G_ba, D_a and D_b (module docstring)."""

  g_ab: nn.Module
  g_ba: nn.Module
  d_a: nn.Module
  d_b: nn.Module

  def translate(self, name: str, x: jax.Array, train: bool = False) -> jax.Array:
    """G_ab or G_ba on x."""
    return getattr(self, name)(x, train)

  def discriminate(self, name: str, x: jax.Array, train: bool = False) -> jax.Array:
    """D_a or D_b on x -> logits [B]."""
    return getattr(self, name)(x, None, train)

  def __call__(self, a: jax.Array, b: jax.Array, train: bool = False):
    """Touches every network (for init): D_b(G_ab(a)), D_a(G_ba(b))."""
    return (self.d_b(self.g_ab(a, train), None, train),
            self.d_a(self.g_ba(b, train), None, train))


def mlp_cycle_gan(hidden: Sequence[int], d_hidden: Sequence[int]) -> CycleGAN:
  """A CycleGAN of MLP translators and MLP discriminators."""
  return CycleGAN(g_ab=MLPTranslator(tuple(hidden)), g_ba=MLPTranslator(tuple(hidden)),
                  d_a=MLPDiscriminator(tuple(d_hidden)), d_b=MLPDiscriminator(tuple(d_hidden)))
