"""What every training script of the homework shares: grids of images, the printed figures, and the summary of
several runs (mean and standard error over seeds). Provided: nothing to change here."""

import argparse
import json
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from vision import torchvision_utils

IMAGE_SHAPE = (1, 28, 28)
STANDARD_ERROR_SUFFIX = "_se"  # a figure "<name>_se" is the standard error of "<name>", printed beside it


def save_image_grid(images: torch.Tensor, path: Path, columns: int) -> None:
    """(n, 784) values in [0, 1] -> a PNG of ``columns`` images per row (2 black pixels between images)."""
    grid_images = images.detach().float().reshape(-1, *IMAGE_SHAPE)  # (n, 1, 28, 28)
    torchvision_utils().save_image(grid_images, path, nrow=columns)


def format_metrics(metrics: dict[str, float], labels: dict[str, str]) -> str:
    """``NELBO: 99.1234 KL: ...``, with ``± s.e.`` after a figure that has a standard error."""
    parts = []
    for name, label in labels.items():
        error = metrics.get(name + STANDARD_ERROR_SUFFIX)
        parts.append(f"{label}: {metrics[name]:.4f}" + ("" if error is None else f" ± {error:.4f}"))
    return " ".join(parts)


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, math.nan
    return mean, statistics.stdev(values) / math.sqrt(len(values))


def summarize_runs(results: list[dict[str, float]], labels: dict[str, str], seeds: list[int],
                   config: dict[str, str], out: Path) -> str:
    """Write the mean and standard error over runs of each figure of ``labels`` to ``out/metrics.json``; return the
    line that prints them."""
    summary: dict[str, object] = {"seeds": seeds, "config": config}
    parts = []
    for name, label in labels.items():
        mean, standard_error = mean_and_standard_error([result[name] for result in results])
        summary[name] = {"mean": mean, "standard_error": standard_error}
        parts.append(f"{label}: {mean:.4f} ± {standard_error:.4f}")
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    return " ".join(parts)


@dataclass(frozen=True)
class RunConfig:
    iter_max: int
    z_dim: int
    seed: int = 0
    runs: int = 1
    out: Path = Path("runs")
    progress: bool = True


RunOnce = Callable[[RunConfig, int, Path], dict[str, float]]  # (config, seed, folder) -> the run's figures


def main(argv: list[str] | None, description: str, run_once: RunOnce, labels: dict[str, str],
         defaults: RunConfig) -> int:
    """The command line of a training script: one run (its figures on the last line) or several (their mean and
    standard error on the last line, each run in ``out/seed_<k>``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iter-max", type=int, default=defaults.iter_max, help="training iterations")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the first run")
    parser.add_argument("--z", type=int, default=defaults.z_dim, help="latent dimension")
    parser.add_argument("--runs", type=int, default=defaults.runs, help="runs with seeds seed, seed+1, ...")
    parser.add_argument("--out", type=Path, default=defaults.out, help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.iter_max < 1 or args.runs < 1 or args.z < 1:
        parser.error("--iter-max, --runs and --z must be positive")
    config = RunConfig(args.iter_max, args.z, args.seed, args.runs, args.out, not args.no_progress)

    if config.runs == 1:
        print(format_metrics(run_once(config, config.seed, config.out), labels))
        return 0
    seeds = [config.seed + k for k in range(config.runs)]
    results = [run_once(config, seed, config.out / f"seed_{seed}") for seed in seeds]
    config_text = {key: str(value) for key, value in asdict(config).items()}
    print(summarize_runs(results, labels, seeds, config_text, config.out))
    return 0
