"""Shared neural-network blocks; models are presets of these."""

from genlab.nn.blocks import (MLP, ConvStack, SubPixelUpsample, UpConvStack, activation,
                               bottom_hw, center_crop)
