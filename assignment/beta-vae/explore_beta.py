"""Explore the KL weight: short runs of your BetaVAE for several beta, then KL, Rec and new images against beta.

    python explore_beta.py                          # beta 0, 0.25, 0.5, 1, 2, 4; 2,000 iterations each
    python explore_beta.py --betas 0 1 8 --iter-max 5000 --out runs/explore_long

Not graded: it is for the written part. Writes ``explore_beta.png`` (KL and Rec of the test set against beta,
then each beta's 16 reconstructions and 16 new images) and ``explore_beta.json`` into the output folder.
With beta = 0 the model is an autoencoder: near-perfect reconstructions, a large KL, and new images from
N(0, I) that look like nothing, because nothing pulled q(z | x) towards the prior. As beta grows, the KL
shrinks, reconstructions blur, and new images look more like digits, until the latent code carries too little.
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from data import load_mnist
from evaluate_beta import evaluate_model
from run_vae import figure_images, trained_model

DEFAULT_BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
DEFAULT_ITERATIONS = 2_000
IMAGE_SIDE = 28


def grid_image(images: torch.Tensor, columns: int) -> torch.Tensor:
    """(n, 784) in [0, 1] -> one (rows * 28, columns * 28) image."""
    rows = images.shape[0] // columns
    tiles = images[: rows * columns].reshape(rows, columns, IMAGE_SIDE, IMAGE_SIDE)
    return tiles.permute(0, 2, 1, 3).reshape(rows * IMAGE_SIDE, columns * IMAGE_SIDE)


def plot(results: list[dict], images: list[torch.Tensor], path: Path) -> None:
    from matplotlib import pyplot  # imported here: the rest of the homework does not need matplotlib

    figure = pyplot.figure(figsize=(12, 3 + 1.6 * len(results)))
    grid = figure.add_gridspec(1 + len(results), 2, height_ratios=[2.5] + [1] * len(results))
    betas = [result["beta"] for result in results]
    for column, (name, label) in enumerate((("kl", "KL (nats)"), ("rec", "Rec (nats)"))):
        axes = figure.add_subplot(grid[0, column])
        axes.plot(betas, [result[name] for result in results], marker="o")
        axes.set_xscale("symlog", linthresh=0.25)
        axes.set_xlabel("beta (KL weight)")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    for row, (result, shown) in enumerate(zip(results, images, strict=True), start=1):
        axes = figure.add_subplot(grid[row, :])
        axes.imshow(grid_image(shown[16:], 16).numpy(), cmap="gray", vmin=0, vmax=1)
        axes.set_axis_off()
        axes.set_title(f"beta = {result['beta']:g}: reconstructions (top), new images from N(0, I) (bottom); "
                       f"KL {result['kl']:.1f}, Rec {result['rec']:.1f}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--betas", type=float, nargs="+", default=list(DEFAULT_BETAS), help="KL weights to try")
    parser.add_argument("--iter-max", type=int, default=DEFAULT_ITERATIONS, help="training iterations per beta")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/explore"), help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.iter_max < 1 or min(args.betas) < 0:
        parser.error("--iter-max must be positive and every beta at least 0")
    args.out.mkdir(parents=True, exist_ok=True)
    x_test = load_mnist().x_test_binarized
    results, images = [], []
    for beta in sorted(args.betas):
        model = trained_model(beta, args.iter_max, args.seed, not args.no_progress)
        results.append({"beta": beta, **evaluate_model(model, x_test)})
        images.append(figure_images(model, x_test, args.seed))  # (48, 784): originals, reconstructions, new
        print(f"beta {beta:g}: KL {results[-1]['kl']:.2f} Rec {results[-1]['rec']:.2f} "
              f"NELBO {results[-1]['nelbo']:.2f}")
    (args.out / "explore_beta.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, images, args.out / "explore_beta.png")
    print(f"wrote {args.out / 'explore_beta.png'} and {args.out / 'explore_beta.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
