"""Train the VAE on MNIST, evaluate it on the binarized test set and save a grid of samples.

    python run_vae.py                      # the homework's iterations, seed 0, its z_dim, into runs/
    python run_vae.py --runs 5             # seeds 0..4, then mean and standard error
    python run_vae.py --iter-max 2000 --out /tmp/quick

The defaults come from hyperparameters.py. Each run writes ``samples.png`` (GRID_ROWS x GRID_COLUMNS samples
of ``sample_x``), ``metrics.json`` and ``weights.pt`` into its folder; the last line printed is
``NELBO: ... KL: ... Rec: ...`` (and any further figure report.py computes).
"""

import argparse
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from data import load_mnist
from hyperparameters import GRID_COLUMNS, GRID_ROWS, ITERATIONS
from report import LABELS, test_set_figures
from train import TrainConfig, seed_everything, train
from vae import DEFAULT_Z_DIM, VAE
from vision import torchvision_utils

IMAGE_SHAPE = (1, 28, 28)
STANDARD_ERROR_SUFFIX = "_se"  # a figure "<name>_se" is the standard error of "<name>", printed beside it


@dataclass(frozen=True)
class RunConfig:
    iter_max: int = ITERATIONS
    seed: int = 0
    z_dim: int = DEFAULT_Z_DIM
    runs: int = 1
    out: Path = Path("runs")
    progress: bool = True


def save_sample_grid(model: VAE, path: Path, seed: int) -> None:
    """Save GRID_ROWS x GRID_COLUMNS samples of ``model.sample_x`` as one PNG."""
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        images = model.sample_x(GRID_ROWS * GRID_COLUMNS)  # (rows * columns, 784)
    save_image_grid(images, path)


def save_image_grid(images: torch.Tensor, path: Path) -> None:
    """(n, 784) values in [0, 1] -> a PNG of GRID_COLUMNS images per row."""
    grid_images = images.detach().float().reshape(-1, *IMAGE_SHAPE)  # (n, 1, 28, 28)
    torchvision_utils().save_image(grid_images, path, nrow=GRID_COLUMNS)


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
    print(f"seed {seed}: " + format_metrics(metrics))
    return metrics


def format_metrics(metrics: dict[str, float]) -> str:
    """``NELBO: 99.1234 KL: ...``, with ``± s.e.`` after a figure that has a standard error."""
    parts = []
    for name, label in LABELS.items():
        error = metrics.get(name + STANDARD_ERROR_SUFFIX)
        parts.append(f"{label}: {metrics[name]:.4f}" + ("" if error is None else f" ± {error:.4f}"))
    return " ".join(parts)


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, statistics.stdev(values) / math.sqrt(len(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iter-max", type=int, default=RunConfig.iter_max, help="training iterations")
    parser.add_argument("--seed", type=int, default=RunConfig.seed, help="seed of the first run")
    parser.add_argument("--z", type=int, default=RunConfig.z_dim, help="latent dimension")
    parser.add_argument("--runs", type=int, default=RunConfig.runs, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--out", type=Path, default=RunConfig.out, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.iter_max < 1 or args.runs < 1 or args.z < 1:
        parser.error("--iter-max, --runs and --z must be positive")
    config = RunConfig(args.iter_max, args.seed, args.z, args.runs, args.out, not args.no_progress)

    if config.runs == 1:
        metrics = run_once(config, config.seed, config.out)
        print(format_metrics(metrics))
        return 0

    seeds = [config.seed + k for k in range(config.runs)]
    results = [run_once(config, seed, config.out / f"seed_{seed}") for seed in seeds]
    summary: dict[str, object] = {"seeds": seeds, "config": {k: str(v) for k, v in asdict(config).items()}}
    parts = []
    for name, label in LABELS.items():
        mean, standard_error = mean_and_standard_error([r[name] for r in results])
        summary[name] = {"mean": mean, "standard_error": standard_error}
        parts.append(f"{label}: {mean:.4f} ± {standard_error:.4f}")
    (config.out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(" ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
