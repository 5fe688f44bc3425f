"""MNIST for the homework: uint8 images in memory, binarized afresh for every training batch.

Training images are binarized dynamically (each pixel is 1 with probability intensity / 255, drawn
again every time the image is used); the test set was binarized once when ``mnist.npz`` was built, so
every machine evaluates on the same bits.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_FILE_NAME = "mnist.npz"
MAX_INTENSITY = 255.0


@dataclass(frozen=True)
class Mnist:
    x_train: torch.Tensor  # (60000, 784) uint8 intensities
    y_train: torch.Tensor  # (60000,) uint8 labels
    x_test_binarized: torch.Tensor  # (10000, 784) float32 in {0, 1}
    y_test: torch.Tensor  # (10000,) uint8 labels


SEARCHED_LEVELS = 3  # this folder and the two above it


def default_data_path() -> Path:
    """``datasets/mnist.npz`` next to this file (the handout) or in a folder above it (the course repository)."""
    here = Path(__file__).resolve().parent
    candidates = [folder / "datasets" / DATA_FILE_NAME for folder in (here, *here.parents)][:SEARCHED_LEVELS]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{DATA_FILE_NAME} not found (looked in {searched}); pass its path explicitly")


def load_mnist(path: Path | None = None) -> Mnist:
    with np.load(path or default_data_path(), allow_pickle=False) as arrays:
        return Mnist(
            x_train=torch.from_numpy(arrays["x_train"]),
            y_train=torch.from_numpy(arrays["y_train"]),
            x_test_binarized=torch.from_numpy(arrays["x_test_binarized"]).float(),
            y_test=torch.from_numpy(arrays["y_test"]),
        )


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli-binarize uint8 intensities: (batch, 784) uint8 -> (batch, 784) float32 in {0, 1}.

    A pixel is 1 when a uniform draw u falls below its probability p = intensity / 255. These are exactly
    the bits of ``torch.bernoulli(p, generator)`` (which draws one such u per pixel, in the same order,
    from the same generator), computed about twice as fast.
    """
    probabilities = images.float().div_(MAX_INTENSITY)  # (batch, 784) in [0, 1]
    uniforms = torch.rand(probabilities.shape, generator=generator)  # (batch, 784) in [0, 1)
    return uniforms.lt_(probabilities)  # (batch, 784) float32: 1.0 where u < p, else 0.0


def train_batches(x_train: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled epochs of freshly binarized batches, (batch_size, 784) float32 each.

    The order and the bits depend only on ``generator``'s seed. A last incomplete batch is dropped.
    """
    n_images = x_train.shape[0]
    while True:
        order = torch.randperm(n_images, generator=generator)  # (n_images,) a fresh shuffle per epoch
        for start in range(0, n_images - batch_size + 1, batch_size):
            indices = order[start : start + batch_size]  # (batch_size,)
            # index_select is x_train[indices] without the general (and here ~10x slower) indexing machinery
            images = x_train.index_select(0, indices)  # (batch_size, 784) uint8
            yield binarize(images, generator)


def labelled_train_batches(x_train: torch.Tensor, y_train: torch.Tensor, batch_size: int,
                           generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled epochs of (images, labels): (batch_size, 784) float32 freshly binarized, and
    (batch_size,) int64 labels of the same images, in the same order.

    The images and their order are exactly those of ``train_batches`` with the same generator seed.
    """
    n_images = x_train.shape[0]
    while True:
        order = torch.randperm(n_images, generator=generator)  # (n_images,) a fresh shuffle per epoch
        for start in range(0, n_images - batch_size + 1, batch_size):
            indices = order[start : start + batch_size]  # (batch_size,)
            images = x_train.index_select(0, indices)  # (batch_size, 784) uint8
            labels = y_train.index_select(0, indices).long()  # (batch_size,) int64
            yield binarize(images, generator), labels
