"""Estimate log p(x | y) of a trained conditional VAE by importance sampling, on a fixed subset of the test set.

With K samples z_k ~ q(z | x, y) and weights w_k = p(x | z_k, y) p(z_k) / q(z_k | x, y),

    log p(x | y) ~ log (1/K) sum_k w_k,

an estimate that is below log p(x | y) in expectation and approaches it as K grows (the importance-weighted bound of
Burda et al., 2016). Each image is estimated on its own, so the figure comes with the standard error of its mean
over the images. Reported as a negative log-likelihood in nats, like the NELBO it lies below.
"""

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

import utils as ut
from cvae import CVAE

IMPORTANCE_SAMPLES = 1_000  # K per image
TEST_SUBSET = 500  # the first images of the binarized test set (K = 1,000 on all 10,000 would take minutes)
EVALUATION_SEED = 0


@dataclass(frozen=True)
class LikelihoodEstimate:
    """-log p(x | y) averaged over the images, with its standard error."""

    per_image: torch.Tensor  # (images,) float64: -log p-hat(x | y) of each image
    mean: float
    standard_error: float  # of the mean over the images: sd / sqrt(images)


def log_weights(model: CVAE, x: torch.Tensor, y: torch.Tensor, samples: int) -> torch.Tensor:
    """log w_k for ``samples`` draws from q(z | x, y) of one image x (1, 784) with label y (1,): (samples,)."""
    y_one_hot = F.one_hot(y, model.num_classes).to(x.dtype)  # (1, NUM_CLASSES)
    qm, qv = model.enc(x, y_one_hot)  # (1, z_dim) each
    qm, qv = qm.expand(samples, -1), qv.expand(samples, -1)  # (samples, z_dim)
    z = ut.sample_gaussian(qm, qv)  # (samples, z_dim)
    logits = model.dec(z, y_one_hot.expand(samples, -1))  # (samples, 784)
    log_px_given_zy = ut.log_bernoulli_with_logits(x.expand(samples, -1), logits)  # (samples,)
    log_pz = ut.log_normal(z, model.z_prior_m, model.z_prior_v)  # (samples,)
    log_qz = ut.log_normal(z, qm, qv)  # (samples,)
    return log_px_given_zy + log_pz - log_qz


@torch.no_grad()
def estimate_log_likelihood(
    model: CVAE,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    samples: int = IMPORTANCE_SAMPLES,
    images: int = TEST_SUBSET,
    seed: int = EVALUATION_SEED,
) -> LikelihoodEstimate:
    """-log p(x | y) by importance sampling with ``samples`` draws per image, on the first ``images`` of the test set.

    The draws come from a forked generator seeded with ``seed``: the figure is reproducible and the caller's random
    state is left as it was.
    """
    model.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        per_image = torch.tensor(
            [-float(ut.log_mean_exp(log_weights(model, x_test[i : i + 1], y_test[i : i + 1].long(), samples), 0))
             for i in range(min(images, x_test.shape[0]))], dtype=torch.float64)  # (images,)
    error = float(per_image.std(unbiased=True)) / math.sqrt(per_image.numel()) if per_image.numel() > 1 else math.nan
    return LikelihoodEstimate(per_image, float(per_image.mean()), error)
