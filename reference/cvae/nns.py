"""The conditional networks of the homework: the CS236 "v1" networks with the label's one-hot vector
concatenated to their input. Provided: nothing to change here."""

import torch
from torch import nn

import utils as ut
from hyperparameters import NUM_CLASSES

IMAGE_PIXELS = 28 * 28  # 784
HIDDEN_UNITS = 300


class ConditionalEncoder(nn.Module):
    """q(z | x, y): [x, one_hot(y)] (784 + 10) -> 300 -> 300 -> 2 * z_dim, ELU, split into (mean, variance)."""

    def __init__(self, z_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Linear(IMAGE_PIXELS + num_classes, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, 2 * z_dim),
        )

    def forward(self, x: torch.Tensor, y_one_hot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (batch, 784) and y_one_hot (batch, num_classes) float -> mean and variance, (batch, z_dim) each."""
        h = self.net(torch.cat([x, y_one_hot], dim=-1))  # (batch, 2 * z_dim)
        return ut.gaussian_parameters(h, dim=-1)


class ConditionalDecoder(nn.Module):
    """p(x | z, y): [z, one_hot(y)] (z_dim + 10) -> 300 -> 300 -> 784 Bernoulli logits, ELU."""

    def __init__(self, z_dim: int, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Linear(z_dim + num_classes, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, HIDDEN_UNITS),
            nn.ELU(),
            nn.Linear(HIDDEN_UNITS, IMAGE_PIXELS),
        )

    def forward(self, z: torch.Tensor, y_one_hot: torch.Tensor) -> torch.Tensor:
        """z (batch, z_dim) and y_one_hot (batch, num_classes) float -> logits (batch, 784)."""
        return self.net(torch.cat([z, y_one_hot], dim=-1))
