"""A conditional variational autoencoder: the label y of each image is given to the encoder and to the decoder.

The model: prior p(z) = N(0, I) (independent of y), decoder p(x | z, y) with Bernoulli pixels, encoder
q(z | x, y) = N(m, diag(v)). For one image x of label y,

    log p(x | y) >= E_{q(z | x, y)}[log p(x | z, y)] - KL(q(z | x, y) || p(z)),

so the negative bound to minimise is

    -ELBO(x, y) = KL(q(z | x, y) || p(z)) - E_{q(z | x, y)}[log p(x | z, y)]
                =          kl             +              rec,

with the KL in closed form and the expectation estimated with a single sample z ~ q(z | x, y). The networks take
the label as a one-hot vector of NUM_CLASSES floats: label 3 is [0, 0, 0, 1, 0, 0, 0, 0, 0, 0].
"""

import torch
from torch.nn import functional as F

import utils as ut
from hyperparameters import NUM_CLASSES, Z_DIM
from nns import ConditionalDecoder, ConditionalEncoder

DEFAULT_Z_DIM = Z_DIM


class CVAE(torch.nn.Module):
    def __init__(self, z_dim: int = DEFAULT_Z_DIM, name: str = "cvae") -> None:
        super().__init__()
        self.name = name
        self.z_dim = z_dim
        self.num_classes = NUM_CLASSES
        self.enc = ConditionalEncoder(z_dim, NUM_CLASSES)
        self.dec = ConditionalDecoder(z_dim, NUM_CLASSES)
        # The prior p(z) = N(0, I): fixed, not trained, and not part of the saved weights.
        self.register_buffer("z_prior_m", torch.zeros(1), persistent=False)
        self.register_buffer("z_prior_v", torch.ones(1), persistent=False)

    def negative_elbo_bound(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The negative conditional ELBO of a batch, and its two terms, each averaged over the batch.

        Args:
            x: binarized images, shape (batch, 784).
            y: their labels, integers in 0..NUM_CLASSES - 1, shape (batch,), dtype torch.int64.

        Returns:
            nelbo, kl, rec: scalar tensors with nelbo = kl + rec, where
                kl  = KL(q(z | x, y) || p(z)), analytic (utils.kl_normal), and
                rec = -log p(x | z, y) for one sample z ~ q(z | x, y) (utils.sample_gaussian),
                      summed over the 784 pixels (utils.log_bernoulli_with_logits).
        """
        # TODO: 1. The label as a one-hot float tensor: F.one_hot(y, NUM_CLASSES).float(), (batch, NUM_CLASSES).
        #          Each image keeps its own label: row b of the one-hot is y[b].
        #       2. Encode: qm, qv = self.enc(x, y_one_hot), each (batch, z_dim).
        #       3. kl: ut.kl_normal against the prior (self.z_prior_m, self.z_prior_v), then the batch mean.
        #       4. Sample z with ut.sample_gaussian and decode it with the same label: self.dec(z, y_one_hot),
        #          logits of shape (batch, 784).
        #       5. rec: minus ut.log_bernoulli_with_logits(x, logits), then the batch mean.
        #       6. nelbo = kl + rec. Return (nelbo, kl, rec), three scalars.
        raise NotImplementedError("negative_elbo_bound: not implemented yet — see the TODO above")

    def sample_x(self, y: torch.Tensor) -> torch.Tensor:
        """One binary image drawn from the model for each requested label.

        Args:
            y: labels, integers in 0..NUM_CLASSES - 1, shape (n,), dtype torch.int64.

        Returns:
            x: shape (n, 784), float32 values in {0, 1}; row i is drawn for label y[i]: z ~ p(z) (self.sample_z),
               then each pixel ~ Bernoulli(sigmoid(logit)) with the logits of self.dec(z, one_hot(y)).
        """
        # TODO: 1. z from the prior: self.sample_z(n), (n, z_dim).
        #       2. The labels as one-hot floats, (n, NUM_CLASSES), row i for y[i] (keep the order of y).
        #       3. Pixel probabilities: self.compute_sigmoid_given(z, y_one_hot), (n, 784).
        #       4. Binary images: torch.bernoulli of the probabilities.
        raise NotImplementedError("sample_x: not implemented yet — see the TODO above")

    def sample_z(self, batch: int) -> torch.Tensor:
        """Latents from the prior: (batch, z_dim)."""
        shape = (batch, self.z_dim)
        return ut.sample_gaussian(self.z_prior_m.expand(shape), self.z_prior_v.expand(shape))

    def compute_sigmoid_given(self, z: torch.Tensor, y_one_hot: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities for latents z (batch, z_dim) and one-hot labels (batch, NUM_CLASSES): (batch, 784)."""
        return torch.sigmoid(self.dec(z, y_one_hot))
