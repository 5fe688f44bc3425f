"""Train the VAE on MNIST, evaluate it on the binarized test set and save a grid of samples.

    python run_vae.py                      # the homework's iterations, seed 0, its z_dim, into runs/
    python run_vae.py --runs 5             # seeds 0..4, then mean and standard error
    python run_vae.py --iter-max 2000 --out /tmp/quick

The defaults come from hyperparameters.py. Each run writes ``samples.png`` (GRID_ROWS x GRID_COLUMNS samples
of ``sample_x``), ``metrics.json`` and ``weights.pt`` into its folder; the last line printed is
``NELBO: ... KL: ... Rec: ...`` (and any further figure report.py computes).
"""

import json
import sys
from pathlib import Path

import torch

import runs
from data import load_mnist
from hyperparameters import GRID_COLUMNS, GRID_ROWS, ITERATIONS
from report import LABELS, test_set_figures
from runs import RunConfig, format_metrics, save_image_grid
from train import TrainConfig, seed_everything, train
from vae import DEFAULT_Z_DIM, VAE


def save_sample_grid(model: VAE, path: Path, seed: int) -> None:
    """Save GRID_ROWS x GRID_COLUMNS samples of ``model.sample_x`` as one PNG."""
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        images = model.sample_x(GRID_ROWS * GRID_COLUMNS)  # (rows * columns, 784)
    save_image_grid(images, path, GRID_COLUMNS)


def run_once(config: RunConfig, seed: int, out: Path) -> dict[str, float]:
    """Train one model with ``seed``, evaluate it, save its grid, metrics and weights into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist()
    seed_everything(seed)  # before the model exists: the seed fixes its initial weights too
    model = VAE(z_dim=config.z_dim)
    train_config = TrainConfig(iter_max=config.iter_max, seed=seed, progress=config.progress)
    log = train(model, mnist.x_train, train_config)
    if log.diverged_at is not None:
        print(f"warning: the loss was not finite at iteration {log.diverged_at}; training stopped", file=sys.stderr)
    metrics = test_set_figures(model, mnist.x_test_binarized)
    save_sample_grid(model, out / "samples.png", seed)
    torch.save(model.state_dict(), out / "weights.pt")
    record = {**metrics, "iterations": log.iterations, "seed": seed, "z_dim": config.z_dim,
              "seconds": round(log.seconds, 2), "diverged_at": log.diverged_at}
    (out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"seed {seed}: " + format_metrics(metrics, LABELS))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return runs.main(argv, __doc__, run_once, LABELS, RunConfig(iter_max=ITERATIONS, z_dim=DEFAULT_Z_DIM))


if __name__ == "__main__":
    sys.exit(main())
