"""The Gaussian decoder of part B. Provided: nothing to change here."""

import torch
from torch import nn
from torch.nn import functional as F

from hyperparameters import PIXEL_VARIANCE_FLOOR
from nns import HIDDEN_UNITS, IMAGE_PIXELS


class GaussianDecoder(nn.Module):
    """p(x | z) = N(mean(z), diag(variance(z))): z_dim -> 300 -> 300 -> 2 * 784, ELU activations.

    The first 784 outputs give the means, squashed into (0, 1) like the pixels; the last 784 the variances,
    softplus(.) + PIXEL_VARIANCE_FLOOR, never below the floor.
    """

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, 2 * IMAGE_PIXELS),
        )

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(z)  # (batch, 2 * 784)
        mean_logits, variance_inputs = torch.split(h, IMAGE_PIXELS, dim=-1)  # (batch, 784) each
        return torch.sigmoid(mean_logits), F.softplus(variance_inputs) + PIXEL_VARIANCE_FLOOR
