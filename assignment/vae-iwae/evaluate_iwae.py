"""Evaluate a trained VAE with importance-weighted bounds on a fixed subset of the binarized test set.

For k samples z_1..z_k ~ q(z | x) and weights w_j = p(x, z_j) / q(z_j | x), the bound

    IWAE-k(x) = log (1/k) sum_j w_j  <=  log p(x)

tightens as k grows (Burda et al., 2016), so -IWAE-1000 estimates the negative log-likelihood better than the
negative ELBO (= -IWAE-1 in expectation). Every image is evaluated on its own, so that each bound comes with the
standard error of its mean over the images.
"""

import math
from dataclasses import dataclass

import torch

from vae import VAE

IW_SAMPLES = (1, 10, 100, 1_000)  # the k of the bounds reported
TEST_SUBSET = 500  # the first images of the binarized test set: IWAE-1000 on all 10,000 would take minutes
EVALUATION_SEED = 0


@dataclass(frozen=True)
class IWAEEstimate:
    """The negative IWAE-k bound averaged over the images, with what its standard error is computed from."""

    iw: int
    per_image: torch.Tensor  # (images,) float64: -IWAE-k of each image, one Monte Carlo estimate each
    mean: float
    standard_error: float  # of the mean over the images: sd / sqrt(images)


@torch.no_grad()
def evaluate_iwae(
    model: VAE,
    x_test: torch.Tensor,
    iw_samples: tuple[int, ...] = IW_SAMPLES,
    images: int = TEST_SUBSET,
    seed: int = EVALUATION_SEED,
) -> dict[int, IWAEEstimate]:
    """-IWAE-k of ``model.negative_iwae_bound`` for each k in ``iw_samples`` on the first ``images`` of ``x_test``
    (n, 784), one image per call (a call with k samples decodes k latents: (k, 784) logits at most).

    The draws come from a forked generator seeded with ``seed``: the figures are reproducible and the caller's
    random state is left as it was.
    """
    model.eval()
    subset = x_test[:images]  # (images, 784)
    estimates = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for iw in iw_samples:
            per_image = torch.tensor([float(model.negative_iwae_bound(image[None], iw)[0]) for image in subset],
                                     dtype=torch.float64)  # (images,)
            estimates[iw] = IWAEEstimate(iw, per_image, float(per_image.mean()), standard_error(per_image))
    return estimates


def standard_error(values: torch.Tensor) -> float:
    """The standard error of the mean of ``values`` (n,): sd / sqrt(n), NaN for fewer than two values."""
    if values.numel() < 2:
        return math.nan
    return float(values.std(unbiased=True)) / math.sqrt(values.numel())


def iwae_metrics(estimates: dict[int, IWAEEstimate]) -> dict[str, float]:
    """Flat figures for a report: iwae_<k> (the negative bound, nats) and iwae_<k>_se (its standard error)."""
    metrics: dict[str, float] = {}
    for iw, estimate in estimates.items():
        metrics[f"iwae_{iw}"] = estimate.mean
        metrics[f"iwae_{iw}_se"] = estimate.standard_error
    return metrics
