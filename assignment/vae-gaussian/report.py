"""What run_vae.py reports on the test set: the negative ELBO and its two terms.

A homework that reports more figures provides its own report.py with the same two names.
"""

import torch

from evaluate import evaluate_bound
from vae import VAE

LABELS = {"nelbo": "NELBO", "kl": "KL", "rec": "Rec"}  # the figures, as printed, in this order


def test_set_figures(model: VAE, x_test: torch.Tensor) -> dict[str, float]:
    """The figures of LABELS for ``model`` on the binarized test set ``x_test`` (n, 784)."""
    return evaluate_bound(model, x_test)
