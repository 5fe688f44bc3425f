"""Evaluate a BetaVAE through its interface alone: the negative ELBO on the test set, its two terms, and how well
the model reconstructs. Provided: nothing to change here. The grader computes its figures with these functions,
from what your encode and decode return.

    -ELBO(x) = KL(N(m, diag(v)) || N(0, I)) + E_{z ~ N(m, diag(v))}[-log Bernoulli(x; sigmoid(decode(z)))]
"""

import torch
from torch.nn import functional as F

EVALUATION_SEED = 0
EVALUATION_REPEATS = 2  # single-sample bounds averaged over this many draws of z
EVALUATION_CHUNK = 1_000  # images per forward pass


def kl_to_standard_normal(m: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag(v)) || N(0, I)) of each row: m, v (n, z_dim) -> (n,)."""
    return 0.5 * (v + m.pow(2) - 1 - torch.log(v)).sum(-1)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log p(x) under independent Bernoulli(sigmoid(logits)) pixels, summed over them: (n, 784) -> (n,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def pixel_error(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The share of each image's pixels whose most likely value (logit > 0) is not the image's: (n, 784) -> (n,)."""
    return ((logits > 0).float() != x).float().mean(-1)


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, x_test: torch.Tensor, repeats: int = EVALUATION_REPEATS,
                   seed: int = EVALUATION_SEED) -> dict[str, float]:
    """Test NELBO, KL and Rec of ``model`` on binary images x_test (n, 784), and its pixel error at the mean."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    totals = torch.zeros(4, dtype=torch.float64)  # kl, rec, pixel error, images
    for start in range(0, x_test.shape[0], EVALUATION_CHUNK):
        x = x_test[start : start + EVALUATION_CHUNK]  # (chunk, 784)
        m, v = model.encode(x)  # (chunk, z_dim) each
        totals[0] += kl_to_standard_normal(m, v).double().sum()
        for _ in range(repeats):
            epsilon = torch.randn(m.shape, generator=generator)  # (chunk, z_dim)
            totals[1] += bernoulli_nll(x, model.decode(m + v.sqrt() * epsilon)).double().sum() / repeats
        totals[2] += pixel_error(x, model.decode(m)).double().sum()
        totals[3] += x.shape[0]
    kl, rec, error = (totals[:3] / totals[3]).tolist()
    return {"nelbo": kl + rec, "kl": kl, "rec": rec, "pixel_error": error}
