"""What run_vae.py reports on the test set: the negative ELBO and its terms on all 10,000 test images, then the
negative IWAE-k bounds for k = 1, 10, 100, 1000 on the first TEST_SUBSET images, with their standard errors."""

import torch

from evaluate import evaluate_bound
from evaluate_iwae import IW_SAMPLES, evaluate_iwae, iwae_metrics
from vae import VAE

LABELS = {"nelbo": "NELBO", "kl": "KL", "rec": "Rec", **{f"iwae_{iw}": f"IWAE-{iw}" for iw in IW_SAMPLES}}


def test_set_figures(model: VAE, x_test: torch.Tensor) -> dict[str, float]:
    """The figures of LABELS (and iwae_<k>_se, the standard error of each bound) on the binarized test set."""
    return {**evaluate_bound(model, x_test), **iwae_metrics(evaluate_iwae(model, x_test))}
