"""Part B: train the Gaussian VAE on dequantized MNIST, evaluate it, and draw its samples beside part A's.

    python run_gaussian.py                      # the homework's iterations, seed 0, into runs/gaussian/
    python run_gaussian.py --runs 5             # seeds 0..4, then mean and standard error
    python run_gaussian.py --iter-max 2000 --out /tmp/quick

Each run writes into its folder ``gaussian_means.png`` (the decoder's means for 100 latents of the prior),
``gaussian_samples.png`` (the same latents, with the pixel noise drawn: clipped to [0, 1] to be shown),
``metrics.json`` and ``weights.pt``; and, when part A's weights are there (``runs/weights.pt``, from
``python run_vae.py``), ``comparison.png``: part A's samples, part B's means and part B's samples side by side.
The last line printed is ``NELBO: ... KL: ... Rec: ... bits/dim: ...``.
"""

import json
import sys
from pathlib import Path

import torch

import runs
from data import dequantize, load_mnist
from evaluate_gaussian import dequantized_test_set, evaluate_gaussian
from gaussian_vae import DEFAULT_Z_DIM, GaussianVAE
from hyperparameters import GRID_COLUMNS, GRID_ROWS, ITERATIONS
from runs import RunConfig, format_metrics, save_image_grid
from train import TrainConfig, seed_everything, train
from vae import VAE

LABELS = {"nelbo": "NELBO", "kl": "KL", "rec": "Rec", "bpd": "bits/dim"}
BERNOULLI_WEIGHTS = Path("runs") / "weights.pt"  # where run_vae.py (part A) leaves its weights
PANELS = ("A: Bernoulli samples", "B: Gaussian means", "B: Gaussian samples (pixel noise drawn)")


def draw_part_b(model: GaussianVAE, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and samples of GRID_ROWS x GRID_COLUMNS latents of the prior: (n, 784) each, samples clipped."""
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        z = model.sample_z(GRID_ROWS * GRID_COLUMNS)  # (n, z_dim)
        means = model.compute_mean_given(z)  # (n, 784)
        samples = model.sample_x_given(z).clamp(0.0, 1.0)  # (n, 784)
    return means, samples


def draw_part_a(weights: Path, z_dim: int, seed: int) -> torch.Tensor:
    """Binary samples of part A's trained VAE: (n, 784)."""
    model = VAE(z_dim=z_dim)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model.sample_x(GRID_ROWS * GRID_COLUMNS)  # (n, 784)


def save_comparison(grids: list[torch.Tensor], path: Path) -> None:
    """The three grids side by side, each with its title (matplotlib)."""
    from matplotlib import pyplot  # imported here: only this figure needs it

    figure, axes = pyplot.subplots(1, len(grids), figsize=(4.2 * len(grids), 4.6))
    for axis, images, title in zip(axes, grids, PANELS, strict=True):
        tiles = images.reshape(GRID_ROWS, GRID_COLUMNS, 28, 28).permute(0, 2, 1, 3).reshape(GRID_ROWS * 28, -1)
        axis.imshow(tiles.numpy(), cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(title, fontsize=11)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def run_once(config: RunConfig, seed: int, out: Path) -> dict[str, float]:
    """Train one Gaussian VAE with ``seed``, evaluate it, save its grids, metrics and weights into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist()
    seed_everything(seed)  # before the model exists: the seed fixes its initial weights too
    model = GaussianVAE(z_dim=config.z_dim)
    train_config = TrainConfig(iter_max=config.iter_max, seed=seed, progress=config.progress)
    log = train(model, mnist.x_train, train_config, prepare=dequantize)
    if log.diverged_at is not None:
        print(f"warning: the loss was not finite at iteration {log.diverged_at}; training stopped", file=sys.stderr)
    metrics = evaluate_gaussian(model, dequantized_test_set(mnist.x_test))
    means, samples = draw_part_b(model, seed)
    save_image_grid(means, out / "gaussian_means.png", GRID_COLUMNS)
    save_image_grid(samples, out / "gaussian_samples.png", GRID_COLUMNS)
    if BERNOULLI_WEIGHTS.exists():
        save_comparison([draw_part_a(BERNOULLI_WEIGHTS, config.z_dim, seed), means, samples], out / "comparison.png")
    else:
        print(f"no {BERNOULLI_WEIGHTS} (run python run_vae.py first): comparison.png not drawn", file=sys.stderr)
    torch.save(model.state_dict(), out / "weights.pt")
    record = {**metrics, "iterations": log.iterations, "seed": seed, "z_dim": config.z_dim,
              "seconds": round(log.seconds, 2), "diverged_at": log.diverged_at}
    (out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"seed {seed}: " + format_metrics(metrics, LABELS))
    return metrics


def main(argv: list[str] | None = None) -> int:
    defaults = RunConfig(iter_max=ITERATIONS, z_dim=DEFAULT_Z_DIM, out=Path("runs") / "gaussian")
    return runs.main(argv, __doc__, run_once, LABELS, defaults)


if __name__ == "__main__":
    sys.exit(main())
