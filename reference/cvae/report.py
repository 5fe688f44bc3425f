"""What run_vae.py reports on the test set: the negative conditional ELBO and its terms on all 10,000 test images
(each given its label), then -log p(x | y) estimated by importance sampling on the first TEST_SUBSET images, with
its standard error."""

import torch

from cvae import CVAE
from evaluate import evaluate_bound
from evaluate_likelihood import IMPORTANCE_SAMPLES, estimate_log_likelihood

LABELS = {"nelbo": "NELBO", "kl": "KL", "rec": "Rec", "nll": f"-log p(x|y) (IS, K={IMPORTANCE_SAMPLES})"}


def test_set_figures(model: CVAE, x_test: torch.Tensor, y_test: torch.Tensor) -> dict[str, float]:
    """The figures of LABELS (and nll_se, the standard error of the estimate) on the binarized test set."""
    estimate = estimate_log_likelihood(model, x_test, y_test)
    return {**evaluate_bound(model, x_test, y_test=y_test), "nll": estimate.mean, "nll_se": estimate.standard_error}
