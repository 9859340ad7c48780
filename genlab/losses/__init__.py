"""Losses: reconstruction terms (per example) and divergences."""

from genlab.losses.divergences import bernoulli_kl, gaussian_kl
from genlab.losses.reconstruction import RECONSTRUCTION_LOSSES, bce, gaussian_nll, mse, psnr
