"""tfds builders of the image-to-image sets derived from mnist5k and the 8x8
digits (genlab.data.digit_translation): sketch2digit, lowres2digit,
mnist2sklearn, and sklearn28 (mnist2sklearn's domain b as a labelled set).
Like genlab.data.builders, they need neither TensorFlow nor network.
"""

# The shared bases and split rules of genlab.data.builders are this module's.
# pylint: disable=protected-access

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from genlab.data import builders
from genlab.data import digit_translation
from genlab.data import embedded

_image, _label = builders._image, builders._label


class _MnistTranslationBuilder(builders._TwoDomainBuilder, skip_registration=True):
  """mnist5k as an image-to-image set (see genlab.data.digit_translation).

  Records are keyed by mnist5k row and split like mnist5k, so every split
  holds mnist5k's digits in mnist5k's order.
  """

  LAYOUT = 'paired'
  HOMEPAGE = builders.GenlabMnist5k.HOMEPAGE
  CITATION = builders.GenlabMnist5k.CITATION
  LICENSE = builders.GenlabMnist5k.LICENSE

  def _load(self):
    return embedded.load_mnist5k()

  def _split(self, labels):
    return builders._mnist5k_split(labels)

  def _features(self) -> dict[str, tfds.features.Tensor]:
    return {'source': _image(28, 28), 'target': _image(28, 28),
            'label': _label()}

  def _source(self, images: np.ndarray) -> np.ndarray:
    """Domain A of every mnist5k image (for the paired sets)."""
    raise NotImplementedError

  def _generate_examples(self, images, labels, rows, split):
    del split  # Pairs need no randomness.
    return digit_translation.paired(self._source(images), images, labels,
                                    rows)


class GenlabSketch2Digit(_MnistTranslationBuilder):
  """Paired: source = the skeleton of an mnist5k digit, target = the digit."""

  name = 'genlab_sketch2digit'
  VERSION = tfds.core.Version('2.0.0')
  RELEASE_NOTES = {
      '1.0.0': 'Source: the one-pixel inner outline of the ink.',
      '2.0.0': 'Source: the one-pixel skeleton of the ink, which drops the'
               ' stroke width the outline kept.',
  }
  DESCRIPTION = (
      'The 28x28 MNIST digits of genlab_mnist5k (same split and order) as'
      ' aligned pairs: source is the one-pixel skeleton of the digit'
      ' (Zhang-Suen thinning of pixels >= 128, as 0/255), target is the'
      ' digit, label is its class.'
  )

  def _source(self, images):
    return digit_translation.skeleton(images)


class GenlabLowres2Digit(_MnistTranslationBuilder):
  """Paired: source = an mnist5k digit at 7x7 shown at 28x28, target = it."""

  name = 'genlab_lowres2digit'
  DESCRIPTION = (
      'The 28x28 MNIST digits of genlab_mnist5k (same split and order) as'
      ' aligned pairs for 4x super-resolution: source is the digit averaged'
      ' over 4x4 blocks (7x7), rounded and repeated back to 28x28, target is'
      ' the digit, label is its class.'
  )

  def _source(self, images):
    return digit_translation.low_resolution(images)


class GenlabMnist2Sklearn(_MnistTranslationBuilder):
  """Unpaired: a = an mnist5k digit, b = an 8x8 UCI digit framed like MNIST."""

  name = 'genlab_mnist2sklearn'
  LAYOUT = 'unpaired'
  DESCRIPTION = (
      'Two unpaired 28x28 digit domains: a is genlab_mnist5k (same split and'
      ' order, one record per digit), b is a digit of genlab_digits (the 8x8'
      ' UCI optdigits, same split as genlab_digits) cropped to its ink,'
      ' scaled bilinearly to fit 20x20 and placed with its centre of mass at'
      ' (14, 14), as MNIST frames its digits. Each record pairs a with a b'
      ' digit of the same split in a fixed hash order, cycling through all'
      ' of them; the pairing is arbitrary and the labels are for evaluation.'
  )
  CITATION = builders.GenlabMnist5k.CITATION + '\n' + builders.GenlabDigits.CITATION
  LICENSE = (f'{builders.GenlabMnist5k.LICENSE} (MNIST), {builders.GenlabDigits.LICENSE}'
             ' (optdigits)')

  def _features(self):
    return {'a': _image(28, 28), 'a_label': _label(),
            'b': _image(28, 28), 'b_label': _label()}

  def _generate_examples(self, images, labels, rows, split):
    b_images, b_labels = embedded.load_digits()
    b_rows = builders._digits_split(b_labels)[0 if split == 'train' else 1]
    return digit_translation.unpaired(
        images, labels, rows, digit_translation.mnist_frame(b_images),
        b_labels, b_rows, digit_translation.B_ORDER_SEEDS[split])


class GenlabSklearn28(builders._EmbeddedBuilder):
  """The 8x8 UCI digits framed like MNIST: mnist2sklearn's domain b, labelled."""

  name = 'genlab_sklearn28'
  IMAGE_HW = (28, 28)
  DESCRIPTION = (
      'The 8x8 UCI optdigits of genlab_digits (same split and order) framed'
      ' like MNIST, exactly the b domain of genlab_mnist2sklearn: each digit'
      ' cropped to its ink, scaled bilinearly to fit 20x20 and placed in a'
      ' 28x28 frame with its centre of mass at (14, 14). Label is its class.'
  )
  HOMEPAGE = builders.GenlabDigits.HOMEPAGE
  CITATION = builders.GenlabDigits.CITATION
  LICENSE = builders.GenlabDigits.LICENSE

  def _load(self):
    images, labels = embedded.load_digits()
    return digit_translation.mnist_frame(images), labels

  def _split(self, labels):
    # digits' split, and its row keys, hence its record order.
    return builders._digits_split(labels)
