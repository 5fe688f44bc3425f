"""Evaluate a trained VAE: the negative ELBO and its terms on the fixed binarized test set (for a conditional
model, given the test labels)."""

import torch

EVALUATION_SEED = 0
EVALUATION_REPEATS = 10  # single-sample bounds averaged over this many passes, for a low-variance figure
EVALUATION_CHUNK = 1_000  # images per forward pass: bounds the memory of evaluation


@torch.no_grad()
def evaluate_bound(
    model: torch.nn.Module,
    x_test: torch.Tensor,
    repeats: int = EVALUATION_REPEATS,
    seed: int = EVALUATION_SEED,
    y_test: torch.Tensor | None = None,
) -> dict[str, float]:
    """Mean NELBO, KL and Rec of ``model.negative_elbo_bound`` over ``x_test`` (n, 784), ``repeats`` times; with
    ``y_test`` (n,), the bound of each image given its label.

    The random draws come from a forked generator seeded with ``seed``: the figures are reproducible and
    the caller's random state is left as it was.
    """
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)  # nelbo, kl, rec
    n_images = x_test.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(repeats):
            for start in range(0, n_images, EVALUATION_CHUNK):
                chunk = x_test[start : start + EVALUATION_CHUNK]  # (chunk, 784)
                given = () if y_test is None else (y_test[start : start + EVALUATION_CHUNK].long(),)  # (chunk,)
                bound = torch.stack([term.detach().double() for term in model.negative_elbo_bound(chunk, *given)])
                totals += bound * chunk.shape[0]
    nelbo, kl, rec = (totals / (n_images * repeats)).tolist()
    return {"nelbo": nelbo, "kl": kl, "rec": rec}
