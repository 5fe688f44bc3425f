"""A variational autoencoder with a fixed standard-normal prior and a Bernoulli decoder.

The bound to implement is the negative evidence lower bound of one image x,

    -ELBO(x) = KL(q(z | x) || p(z)) - E_{q(z | x)}[log p(x | z)]
             =        kl            +          rec,

with the KL in closed form and the expectation estimated with a single sample z ~ q(z | x).
"""

import torch
from torch import nn

import utils as ut
from hyperparameters import Z_DIM
from nns import Decoder, Encoder

DEFAULT_Z_DIM = Z_DIM


class VAE(nn.Module):
    def __init__(self, z_dim: int = DEFAULT_Z_DIM, name: str = "vae") -> None:
        super().__init__()
        self.name = name
        self.z_dim = z_dim
        self.enc = Encoder(z_dim)
        self.dec = Decoder(z_dim)
        # The prior p(z) = N(0, I): fixed, not trained, and not part of the saved weights.
        self.register_buffer("z_prior_m", torch.zeros(1), persistent=False)
        self.register_buffer("z_prior_v", torch.ones(1), persistent=False)

    @property
    def z_prior(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.z_prior_m, self.z_prior_v

    def negative_elbo_bound(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The negative ELBO of a batch, and its two terms, each averaged over the batch.

        Args:
            x: binarized images, shape (batch, 784).

        Returns:
            nelbo, kl, rec: scalar tensors with nelbo = kl + rec, where
                kl  = KL(q(z | x) || p(z)), analytic (utils.kl_normal), and
                rec = -log p(x | z) for one sample z ~ q(z | x) (utils.sample_gaussian),
                      summed over the 784 pixels (utils.log_bernoulli_with_logits).
        """
        # TODO: 1. Encode: qm, qv = self.enc(x), each (batch, z_dim).
        #       2. kl: ut.kl_normal against the prior (self.z_prior_m, self.z_prior_v), then the batch mean.
        #       3. Sample z with ut.sample_gaussian and decode it into logits with self.dec, (batch, 784).
        #       4. rec: minus ut.log_bernoulli_with_logits(x, logits), then the batch mean.
        #       5. nelbo = kl + rec. Return (nelbo, kl, rec), three scalars.
        raise NotImplementedError("negative_elbo_bound: not implemented yet — see the TODO above")

    def negative_iwae_bound(self, x: torch.Tensor, iw: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The negative importance-weighted bound with ``iw`` samples per image, and the ELBO's two terms.

        Shapes: x (batch, 784); returns three scalars (niwae, kl, rec), batch means.
        """
        qm, qv = self.enc(x)  # (batch, z_dim) each
        qm_rep, qv_rep = ut.duplicate(qm, iw), ut.duplicate(qv, iw)  # (iw * batch, z_dim)
        z = ut.sample_gaussian(qm_rep, qv_rep)  # (iw * batch, z_dim)
        logits = self.dec(z)  # (iw * batch, 784)
        log_px_given_z = ut.log_bernoulli_with_logits(ut.duplicate(x, iw), logits)  # (iw * batch,)
        log_pz = ut.log_normal(z, self.z_prior_m, self.z_prior_v)  # (iw * batch,)
        log_qz = ut.log_normal(z, qm_rep, qv_rep)  # (iw * batch,)
        log_weights = (log_px_given_z + log_pz - log_qz).reshape(iw, -1)  # (iw, batch)
        niwae = -ut.log_mean_exp(log_weights, dim=0).mean()
        kl = (log_qz - log_pz).mean()
        rec = -log_px_given_z.mean()
        return niwae, kl, rec

    def sample_sigmoid(self, batch: int) -> torch.Tensor:
        return self.compute_sigmoid_given(self.sample_z(batch))

    def compute_sigmoid_given(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities for latents z: (batch, z_dim) -> (batch, 784)."""
        return torch.sigmoid(self.dec(z))

    def sample_z(self, batch: int) -> torch.Tensor:
        """Latents from the prior: (batch, z_dim)."""
        shape = (batch, self.z_dim)
        return ut.sample_gaussian(self.z_prior_m.expand(shape), self.z_prior_v.expand(shape))

    def sample_x(self, batch: int) -> torch.Tensor:
        """Binary images from the model: (batch, 784) in {0, 1}."""
        return self.sample_x_given(self.sample_z(batch))

    def sample_x_given(self, z: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.compute_sigmoid_given(z))
