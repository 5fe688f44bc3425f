"""Your VAE, written from scratch: the architecture is yours, the interface is fixed.

The grader builds ``BetaVAE()`` (no arguments), trains it with the provided loop (run_vae.py, train.py) and judges
it only through three methods:

    encode(x)        -> (m, v)           q(z | x) = N(m, diag(v)): m and v of shape (batch, z_dim), v > 0
    decode(z)        -> logits           p(x | z) = Bernoulli(sigmoid(logits)): shape (batch, 784)
    loss(x, beta)    -> (total, kl, rec) three scalars, each the mean over the batch, with

        kl    = KL(q(z | x) || N(0, I))            in closed form, summed over the z_dim coordinates,
        rec   = -log p(x | z) for one z ~ q(z | x)  summed over the 784 pixels, z from utils.sample_gaussian,
        total = rec + beta * kl                     (beta = 1: the negative ELBO).

Limits (hyperparameters.py): at most PARAMETER_BUDGET numbers in the state_dict, and a training iteration at most
STEP_TIME_FACTOR times as slow as the reference model's. Everything the model needs must be in its state_dict:
the grader rebuilds BetaVAE() and loads the trained state in a new process, and calls encode and decode in two
separate processes. Use only torch (no file or network access).
"""

import torch
from torch import nn
from torch.nn import functional as F

import utils as ut
from hyperparameters import IMAGE_SIZE

Z_DIM = 20  # latent dimensions (your choice)
HIDDEN = 300  # units of each hidden layer (your choice)
VARIANCE_FLOOR = 1e-6  # added to the encoder's softplus: a variance is never exactly 0


class BetaVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # BEGIN SOLUTION
        # > Choose an architecture and build its layers here; set self.z_dim to your latent dimension.
        # > A fully connected encoder 784 -> hidden -> 2 * z_dim (a mean and a variance per latent coordinate)
        # > and decoder z_dim -> hidden -> 784 (one logit per pixel) is enough; try tanh, ReLU or ELU, dropout.
        self.z_dim = Z_DIM
        self.encoder = nn.Sequential(
            nn.Linear(IMAGE_SIZE, HIDDEN), nn.ELU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ELU(),
            nn.Linear(HIDDEN, 2 * Z_DIM),
        )
        self.decoder = nn.Sequential(
            nn.Linear(Z_DIM, HIDDEN), nn.ELU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ELU(),
            nn.Linear(HIDDEN, IMAGE_SIZE),
        )
        # END SOLUTION

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): the mean and the variance (positive), each (batch, z_dim), of binary images x (batch, 784)."""
        # BEGIN SOLUTION
        # > Run your encoder, split its output into a mean and an unconstrained half, and make the variance
        # > positive (softplus plus a small floor, or exp of a log-variance). Return (m, v), not (m, log v).
        h = self.encoder(x)  # (batch, 2 * z_dim)
        m, h_v = torch.chunk(h, 2, dim=-1)  # (batch, z_dim) each
        v = F.softplus(h_v) + VARIANCE_FLOOR  # (batch, z_dim)
        return m, v
        # END SOLUTION

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x | z): the logits (batch, 784) of each pixel's Bernoulli, for latents z (batch, z_dim)."""
        # BEGIN SOLUTION
        # > Run your decoder. Return logits (any real numbers), not probabilities: the loss and the grader apply
        # > the sigmoid inside a numerically stable cross-entropy.
        return self.decoder(z)  # (batch, 784)
        # END SOLUTION

    def loss(self, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rec + beta * kl, kl, rec) for binary images x (batch, 784), each the mean over the batch."""
        # BEGIN SOLUTION
        # > 1. m, v = self.encode(x).
        # > 2. kl: KL(N(m, v) || N(0, I)) = 1/2 * sum over coordinates of (v + m^2 - 1 - log v), batch mean.
        # > 3. z = ut.sample_gaussian(m, v) (the reparameterization trick), logits = self.decode(z).
        # > 4. rec: the binary cross-entropy of x under the logits (F.binary_cross_entropy_with_logits), summed
        # >    over the 784 pixels, then the batch mean.
        # > 5. Return (rec + beta * kl, kl, rec).
        m, v = self.encode(x)  # (batch, z_dim) each
        kl = 0.5 * (v + m.pow(2) - 1 - torch.log(v)).sum(-1).mean()  # scalar
        z = ut.sample_gaussian(m, v)  # (batch, z_dim)
        logits = self.decode(z)  # (batch, 784)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1).mean()  # scalar
        return rec + beta * kl, kl, rec
        # END SOLUTION
