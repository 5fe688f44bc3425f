"""MNIST for the homework: uint8 images in memory, binarized afresh for every training batch.

Training images are binarized dynamically (each pixel is 1 with probability intensity / 255, drawn
again every time the image is used); the test set was binarized once when ``mnist.npz`` was built, so
every machine evaluates on the same bits. A model of real-valued pixels trains on dequantized images instead
(``dequantize``): the same batches, each intensity k replaced by (k + u) / 256 with u uniform in [0, 1).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_FILE_NAME = "mnist.npz"
MAX_INTENSITY = 255.0
INTENSITY_LEVELS = 256  # uint8 intensities 0..255: dequantized pixels lie in [0, 1), in bins of width 1/256
LARGEST_OFFSET = 1 - 2**-16  # the largest float32 below 1 that 255 + offset keeps below 256


@dataclass(frozen=True)
class Mnist:
    x_train: torch.Tensor  # (60000, 784) uint8 intensities
    y_train: torch.Tensor  # (60000,) uint8 labels
    x_test_binarized: torch.Tensor  # (10000, 784) float32 in {0, 1}
    y_test: torch.Tensor  # (10000,) uint8 labels
    x_test: torch.Tensor  # (10000, 784) uint8 intensities (dequantized for a model of real-valued pixels)


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
            x_test=torch.from_numpy(arrays["x_test"]),
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


def dequantize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniformly dequantized intensities: (batch, 784) uint8 k -> (batch, 784) float32 (k + u) / 256, u ~ U[0, 1).

    A density p on [0, 1)^784 then bounds the probability of the discrete image: log P(k) >= E_u[log p((k + u)
    / 256)] - 784 log 256, so a bound in nats converts to bits per dimension of the discrete data.
    """
    uniforms = torch.rand(images.shape, generator=generator)  # (batch, 784) in [0, 1)
    # In float32, 255 + u rounds up to 256 for u within 2^-16 of 1: capped there, each pixel stays in its bin.
    uniforms.clamp_(max=LARGEST_OFFSET)
    return (images.float() + uniforms).div_(INTENSITY_LEVELS)  # (batch, 784) in [0, 1)


Prepare = Callable[[torch.Tensor, torch.Generator], torch.Tensor]  # uint8 batch -> float32 batch


def train_batches(x_train: torch.Tensor, batch_size: int, generator: torch.Generator,
                  prepare: Prepare = binarize) -> Iterator[torch.Tensor]:
    """Endless shuffled epochs of freshly binarized (or otherwise ``prepare``d) batches, (batch_size, 784) float32.

    The order and the bits depend only on ``generator``'s seed. A last incomplete batch is dropped.
    """
    n_images = x_train.shape[0]
    while True:
        order = torch.randperm(n_images, generator=generator)  # (n_images,) a fresh shuffle per epoch
        for start in range(0, n_images - batch_size + 1, batch_size):
            indices = order[start : start + batch_size]  # (batch_size,)
            # index_select is x_train[indices] without the general (and here ~10x slower) indexing machinery
            images = x_train.index_select(0, indices)  # (batch_size, 784) uint8
            yield prepare(images, generator)


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
