"""Train the grader's digit classifier and write its weights and record into grader/assets/.

    python -m grader.train_classifier                 # the committed weights: seed 0, EPOCHS epochs
    python -m grader.train_classifier --out /tmp/clf  # somewhere else

The training images are augmented to look like what a VAE draws: each batch is jittered (small random
rotation, scale and shift), blurred by a random amount, Bernoulli-binarized afresh (most images; the
rest stay grey) and given a little salt-and-pepper noise. Everything random comes from one seeded
generator and the thread count is fixed, so a seed gives the same weights on a given machine and torch.
"""

import argparse
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from grader.digits.classifier import (
    ARCHITECTURE,
    DEFAULT_RECORD,
    DEFAULT_WEIGHTS,
    IMAGE_SIDE,
    DigitClassifier,
    predict,
    save_weights,
)

MNIST_PATH = Path(__file__).resolve().parent.parent / "datasets" / "mnist.npz"
MAX_INTENSITY = 255.0
TRAIN_THREADS = 1  # fixed, so float reductions (hence the weights) do not depend on the cores; fastest when busy
FIRST_TEST_DIGITS = 2_000  # the test suite re-measures the accuracy on this many binarized test digits


@dataclass(frozen=True)
class ClassifierTrainConfig:
    seed: int = 0
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 3e-3  # Adam, cosine-decayed to 0 over the run
    weight_decay: float = 1e-4
    max_train_images: int | None = None  # None: all 60,000 (tests use a few hundred)
    # augmentation
    max_rotation_degrees: float = 8.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift_pixels: float = 1.5
    max_blur: float = 0.7  # weight of a Gaussian-blurred copy (sigma BLUR_SIGMA) mixed in, drawn in [0, max_blur]
    binarized_fraction: float = 0.8  # share of images Bernoulli-binarized; the rest stay grey
    max_flip_probability: float = 0.02  # per-image pixel-flip rate drawn in [0, this]


BLUR_SIGMA = 1.0
BLUR_KERNEL_SIZE = 5


def _gaussian_kernel() -> torch.Tensor:
    offsets = torch.arange(BLUR_KERNEL_SIZE, dtype=torch.float32) - BLUR_KERNEL_SIZE // 2
    weights = torch.exp(-offsets.pow(2) / (2 * BLUR_SIGMA**2))
    weights = weights / weights.sum()
    return (weights[:, None] * weights[None, :]).reshape(1, 1, BLUR_KERNEL_SIZE, BLUR_KERNEL_SIZE)


def augment(images: torch.Tensor, config: ClassifierTrainConfig, generator: torch.Generator) -> torch.Tensor:
    """uint8 intensities (batch, 784) -> augmented pixel values (batch, 784) in [0, 1], mostly binary."""
    batch = images.shape[0]
    grey = images.float().div(MAX_INTENSITY).reshape(batch, 1, IMAGE_SIDE, IMAGE_SIDE)  # (batch, 1, 28, 28)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, generator=generator)  # (batch,)

    angle = uniform(-1.0, 1.0) * math.radians(config.max_rotation_degrees)
    scale = uniform(*config.scale_range)
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * (2 * config.max_shift_pixels / IMAGE_SIDE)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(grey.shape), align_corners=False)  # (batch, 28, 28, 2)
    moved = F.grid_sample(grey, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    blurred = F.conv2d(moved, _gaussian_kernel(), padding=BLUR_KERNEL_SIZE // 2)  # (batch, 1, 28, 28)
    blur = uniform(0.0, config.max_blur).reshape(batch, 1, 1, 1)
    probabilities = ((1 - blur) * moved + blur * blurred).clamp(0.0, 1.0).reshape(batch, -1)  # (batch, 784)

    binary = torch.bernoulli(probabilities, generator=generator)  # (batch, 784)
    keep_binary = (torch.rand(batch, 1, generator=generator) < config.binarized_fraction).float()  # (batch, 1)
    x = keep_binary * binary + (1 - keep_binary) * probabilities
    flip_rate = uniform(0.0, config.max_flip_probability).reshape(batch, 1).expand_as(x)
    flips = torch.bernoulli(flip_rate, generator=generator)  # (batch, 784)
    return (x - flips).abs()  # a flipped pixel p becomes 1 - p


def load_arrays(path: Path = MNIST_PATH) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in ("x_train", "y_train", "x_test", "y_test", "x_test_binarized")}


def train_classifier(
    x_train: torch.Tensor, y_train: torch.Tensor, config: ClassifierTrainConfig = ClassifierTrainConfig()
) -> DigitClassifier:
    """Train a DigitClassifier on uint8 images (n, 784) and labels (n,); deterministic for ``config.seed``.

    Runs on TRAIN_THREADS threads whatever the caller set (restored afterwards).
    """
    if config.max_train_images is not None:
        x_train, y_train = x_train[: config.max_train_images], y_train[: config.max_train_images]
    generator = torch.Generator().manual_seed(config.seed)
    was_deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(TRAIN_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)  # the initial weights
            model = DigitClassifier()
        optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        n_images = x_train.shape[0]
        steps_per_epoch = max(1, n_images // config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
        )
        labels = y_train.long()
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(n_images, generator=generator)
            for step in range(steps_per_epoch):
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                x = augment(x_train[index], config, generator)  # (batch, 784)
                loss = F.cross_entropy(model(x), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)
    model.eval()
    return model


def accuracy(model: DigitClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``images`` (n, 784) in [0, 1] whose most probable class is ``labels`` (n,)."""
    probabilities = predict(images, model)  # (n, 10)
    return float((probabilities.argmax(axis=1) == labels).mean())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=ClassifierTrainConfig.seed)
    parser.add_argument("--epochs", type=int, default=ClassifierTrainConfig.epochs)
    parser.add_argument("--data", type=Path, default=MNIST_PATH, help="mnist.npz (make data)")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS.parent,
                        help="folder for digit_classifier.npz and digit_classifier.json")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be positive")
    if not args.data.exists():
        parser.error(f"{args.data} not found; build it with `make data`")
    config = replace(ClassifierTrainConfig(), seed=args.seed, epochs=args.epochs)

    arrays = load_arrays(args.data)
    start, cpu_start = time.perf_counter(), time.process_time()
    model = train_classifier(torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"]), config)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

    binarized = arrays["x_test_binarized"].astype(np.float32)  # (10000, 784) in {0, 1}
    grey = arrays["x_test"].astype(np.float32) / MAX_INTENSITY  # (10000, 784)
    labels = arrays["y_test"]
    record = {
        "architecture": ARCHITECTURE,
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": asdict(config),
        "threads": TRAIN_THREADS,
        "torch": torch.__version__,
        "train_seconds": round(seconds, 1),  # wall clock: long when other jobs share the cores
        "train_cpu_seconds": round(cpu_seconds, 1),
        "test_accuracy_binarized": accuracy(model, binarized, labels),
        "test_accuracy_grey": accuracy(model, grey, labels),
        "first_test_digits": FIRST_TEST_DIGITS,
        "test_accuracy_binarized_first": accuracy(model, binarized[:FIRST_TEST_DIGITS], labels[:FIRST_TEST_DIGITS]),
    }
    weights_path = args.out / DEFAULT_WEIGHTS.name
    save_weights(model, weights_path)
    record["sha256"] = sha256_of(weights_path)
    (args.out / DEFAULT_RECORD.name).write_text(json.dumps(record, indent=2) + "\n")
    print(f"binarized test accuracy {record['test_accuracy_binarized']:.4f}, grey {record['test_accuracy_grey']:.4f}, "
          f"{seconds:.0f} s ({cpu_seconds:.0f} s of CPU); wrote {weights_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
