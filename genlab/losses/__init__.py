"""Losses: reconstruction terms (per example) and divergences."""

from genlab.losses.divergences import bernoulli_kl, gaussian_kl
from genlab.losses.reconstruction import RECONSTRUCTION_LOSSES, bce, gaussian_nll, mse, psnr, ssim
from genlab.losses.adversarial import (ADVERSARIAL_LOSSES, AdversarialLoss,
                                       discriminator_accuracy)
from genlab.losses.penalties import gradient_penalty, interpolation_weights, r1_penalty
