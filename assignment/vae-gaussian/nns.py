"""The networks of the homework (the CS236 "v1" architecture). Provided: nothing to change here."""

import torch
from torch import nn

import utils as ut

IMAGE_PIXELS = 28 * 28  # 784
HIDDEN_UNITS = 300


class Encoder(nn.Module):
    """q(z | x): 784 -> 300 -> 300 -> 2 * z_dim, ELU activations, split into (mean, variance)."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(IMAGE_PIXELS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, 2 * z_dim),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(x)  # (batch, 2 * z_dim)
        return ut.gaussian_parameters(h, dim=-1)  # (batch, z_dim) each


class Decoder(nn.Module):
    """p(x | z): z_dim -> 300 -> 300 -> 784 Bernoulli logits, ELU activations."""

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, IMAGE_PIXELS),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)  # (batch, 784) logits
