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
        # TODO: 1. Encode: qm, qv = self.enc(x), each (batch, z_dim).
        #       2. Draw iw samples of z per image with ut.sample_gaussian (the grader controls its noise),
        #          e.g. from ut.duplicate(qm, iw) and ut.duplicate(qv, iw): (iw * batch, z_dim), copy k of
        #          the batch in rows [k * batch, (k + 1) * batch).
        #       3. One log-weight per sample, log w = log p(x | z) + log p(z) - log q(z | x):
        #          ut.log_bernoulli_with_logits of the duplicated x under the logits self.dec(z), and
        #          ut.log_normal of z under the prior (self.z_prior_m, self.z_prior_v) and under q.
        #          Arrange them as (iw, batch).
        #       4. niwae = -log((1 / iw) * sum_k w_k) for each image, computed stably from the log-weights
        #          (ut.log_mean_exp over the samples' dimension), then averaged over the batch.
        #       5. kl and rec: the ELBO's two terms on the same samples, each a mean over all iw * batch
        #          of them: kl = log q(z | x) - log p(z), rec = -log p(x | z).
        #       Return (niwae, kl, rec): three scalars.
        raise NotImplementedError("negative_iwae_bound: not implemented yet — see the TODO above")

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
