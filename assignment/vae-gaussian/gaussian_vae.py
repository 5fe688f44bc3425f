"""Part B: the VAE with a Gaussian likelihood, p(x | z) = N(mean(z), diag(variance(z))), on dequantized pixels.

The bound to implement is the same negative ELBO as in part A,

    -ELBO(x) = KL(q(z | x) || p(z)) - E_{q(z | x)}[log N(x; mean(z), diag(variance(z)))]
             =        kl            +                     rec,

with the KL in closed form and the expectation estimated with a single sample z ~ q(z | x). Densities of
continuous pixels can exceed 1, so rec (and the bound) can be negative.
"""

import torch
from torch import nn

import utils as ut
from gaussian_nns import GaussianDecoder
from hyperparameters import Z_DIM
from nns import Encoder

DEFAULT_Z_DIM = Z_DIM


class GaussianVAE(nn.Module):
    def __init__(self, z_dim: int = DEFAULT_Z_DIM, name: str = "gaussian_vae") -> None:
        super().__init__()
        self.name = name
        self.z_dim = z_dim
        self.enc = Encoder(z_dim)
        self.dec = GaussianDecoder(z_dim)
        # The prior p(z) = N(0, I): fixed, not trained, and not part of the saved weights.
        self.register_buffer("z_prior_m", torch.zeros(1), persistent=False)
        self.register_buffer("z_prior_v", torch.ones(1), persistent=False)

    def negative_elbo_bound(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The negative ELBO of a batch of dequantized images, and its two terms, each averaged over the batch.

        Args:
            x: pixel intensities in [0, 1), shape (batch, 784).

        Returns:
            nelbo, kl, rec: scalar tensors with nelbo = kl + rec, where
                kl  = KL(q(z | x) || p(z)), analytic (utils.kl_normal), and
                rec = -log N(x; mean, diag(variance)) for one sample z ~ q(z | x) (utils.sample_gaussian),
                      with (mean, variance) = self.dec(z), summed over the 784 pixels (utils.log_normal).
        """
        # TODO: 1. Encode: qm, qv = self.enc(x), each (batch, z_dim).
        #       2. kl: ut.kl_normal against the prior (self.z_prior_m, self.z_prior_v), then the batch mean.
        #       3. Sample z with ut.sample_gaussian and decode it: mean, variance = self.dec(z), each (batch, 784).
        #       4. rec: minus ut.log_normal(x, mean, variance), then the batch mean.
        #       5. nelbo = kl + rec. Return (nelbo, kl, rec), three scalars.
        raise NotImplementedError("negative_elbo_bound: not implemented yet — see the TODO above")

    def sample_z(self, batch: int) -> torch.Tensor:
        """Latents from the prior: (batch, z_dim)."""
        shape = (batch, self.z_dim)
        return ut.sample_gaussian(self.z_prior_m.expand(shape), self.z_prior_v.expand(shape))

    def compute_mean_given(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's pixel means for latents z: (batch, z_dim) -> (batch, 784)."""
        return self.dec(z)[0]

    def sample_x_given(self, z: torch.Tensor) -> torch.Tensor:
        """Images drawn from p(x | z), pixel noise included: (batch, z_dim) -> (batch, 784), not clipped."""
        mean, variance = self.dec(z)  # (batch, 784) each
        return ut.sample_gaussian(mean, variance)

    def sample_x(self, batch: int) -> torch.Tensor:
        """Images from the model, pixel noise included: (batch, 784)."""
        return self.sample_x_given(self.sample_z(batch))
