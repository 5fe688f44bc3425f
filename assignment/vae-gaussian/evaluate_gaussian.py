"""Evaluate part B's Gaussian VAE on the dequantized test set: the negative ELBO in nats and in bits per dimension.
Provided: nothing to change here.

The test images are dequantized once, with a fixed seed, so that every model is scored on the same pixels. A
density on continuous pixels is not a probability: its bound in nats is not comparable with part A's (which
bounds the probability of binary pixels). What is comparable across models of the same 8-bit images is the
bound on the discrete image's probability: with uniform dequantization,

    -log P(k) <= NELBO + D log 256,   in bits per dimension: (NELBO + D log 256) / (D log 2),   D = 784.
"""

import math

import torch

from data import INTENSITY_LEVELS, dequantize
from evaluate import evaluate_bound
from nns import IMAGE_PIXELS

TEST_DEQUANTIZATION_SEED = 0


def dequantized_test_set(x_test: torch.Tensor, seed: int = TEST_DEQUANTIZATION_SEED) -> torch.Tensor:
    """The uint8 test images (n, 784), dequantized once with ``seed``: (n, 784) float32 in [0, 1)."""
    return dequantize(x_test, torch.Generator().manual_seed(seed))


def bits_per_dimension(nelbo: float) -> float:
    """The bound on -log2 P(k) per pixel of the 8-bit image that a NELBO (nats, per image) of dequantized pixels
    gives."""
    return (nelbo + IMAGE_PIXELS * math.log(INTENSITY_LEVELS)) / (IMAGE_PIXELS * math.log(2))


def evaluate_gaussian(model: torch.nn.Module, x_test_dequantized: torch.Tensor) -> dict[str, float]:
    """NELBO, KL and Rec (nats per image, ``evaluate.evaluate_bound``) and bits per dimension."""
    figures = evaluate_bound(model, x_test_dequantized)
    return {**figures, "bpd": bits_per_dimension(figures["nelbo"])}
