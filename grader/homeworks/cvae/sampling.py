"""The case of the conditional sampler's checks: the grader's weights and labels, the pixel probabilities a right
sampler draws from for each label, those of the mistakes students make, and the statistic that compares them.

Each pixel of a sample drawn for label y is, over the draw of z ~ p(z), a Bernoulli variable with probability
p_y = E_z[sigmoid(dec(z, y))]. The grader estimates p_y from EXPECTATION_DRAWS latents per label with the reference's
networks, and compares the student's per-label pixel means m_y over n samples with it: for every pixel where p_y is
neither 0 nor 1, d = (m_y - p_y) / sqrt(p_y (1 - p_y) / n) is about N(0, 1), so the mean of d^2 over the pixels and
labels is about 1 for a right sampler, whatever order it draws its noise in. A sampler that draws from another
distribution (the wrong label, no label, no sampling of z) leaves the mean of d^2 far above 1.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from grader.engine.homework import Homework
from grader.engine.oracle import reference
from grader.homeworks.cvae.bound import NUM_CLASSES, pretrained_weights

PER_LABEL = 200  # samples the student's sampler draws for each label
EXPECTATION_DRAWS = 5_000  # latents per label behind p_y; their noise adds about PER_LABEL / 5,000 = 0.04 to the mean
DRAWS_PER_CHUNK = 1_000  # decoded at a time: the grader runs in Gradescope's 768 MB with its workers
# The decoder's z inputs are scaled up: after a few dozen training steps the decoder barely uses z, and a sampler that
# never samples z (z = 0) would draw from nearly the right probabilities. Scaled by 4, its p_y is 5 units of the
# statistic below away from the right one (1.5 at 2, 0.15 unscaled), while the ink of the samples is unchanged (0.12).
Z_INPUT_SCALE = 4.0
# Pixels with p (1 - p) below this (p < 0.053 or > 0.947) are left out: d is far from normal there.
MIN_PIXEL_VARIANCE = 0.05
# The mean of d^2 of a right sampler, measured over 10 cases x 100 seeds of the reference's sampler against its own
# p_y: 1.013 on average, sd 0.068, 99.9th percentile 1.27, at most 1.45 (neighbouring pixels are correlated, so the
# tail is heavier than a chi-square's). The mistakes of MISTAKES score 5 or more (z = 0: 5.4 to 10; pixels thresholded:
# 12 or more; the others 22 or more). The bound sits about twice the largest right score from both sides.
MAX_MEAN_SQUARED_DEVIATION = 3.0


@dataclass(frozen=True)
class SampleCase:
    z_dim: int
    weights: dict[str, np.ndarray]
    labels: np.ndarray  # (NUM_CLASSES * PER_LABEL,) int64, shuffled: row i is drawn for labels[i]
    seed: int
    expected: np.ndarray  # (NUM_CLASSES, 784): p_y of a right sampler
    variants: list[tuple[str, np.ndarray]]  # (explanation, the p_y that mistake draws from)


def pixel_means(labels: np.ndarray, images: np.ndarray) -> np.ndarray:
    """The mean image of each label's samples: (NUM_CLASSES, 784); a label without samples gets NaN."""
    means = np.full((NUM_CLASSES, images.shape[1]), np.nan)
    for label in range(NUM_CLASSES):
        chosen = images[labels == label]
        if chosen.shape[0]:
            means[label] = chosen.astype(np.float64).mean(axis=0)
    return means


def mean_squared_deviation(means: np.ndarray, expected: np.ndarray, per_label: int) -> float:
    """The mean over pixels and labels of ((m - p) / sqrt(p (1 - p) / n))^2, on pixels where p (1 - p) is not tiny."""
    variance = expected * (1 - expected)
    kept = variance > MIN_PIXEL_VARIANCE
    if not kept.any():
        return float("nan")
    squared = (means[kept] - expected[kept]) ** 2 / (variance[kept] / per_label)
    return float(squared.mean())


def expected_probabilities(model: torch.nn.Module, label_of: object, z_scale: float, seed: int,
                           thresholded: bool = False) -> np.ndarray:
    """p_y for every label y: the mean over EXPECTATION_DRAWS latents z ~ N(0, z_scale^2 I) of the decoder's pixel
    probabilities given ``label_of(y)``'s one-hot vector (with ``thresholded``, of those probabilities rounded to 0
    or 1). (NUM_CLASSES, 784)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for label in range(NUM_CLASSES):
            total = torch.zeros(784, dtype=torch.float64)
            for _ in range(EXPECTATION_DRAWS // DRAWS_PER_CHUNK):
                z = z_scale * torch.randn((DRAWS_PER_CHUNK, model.z_dim), generator=generator)  # (chunk, z_dim)
                y = torch.full((DRAWS_PER_CHUNK,), label, dtype=torch.long)
                probabilities = torch.sigmoid(model.dec(z, label_of(y)))  # (chunk, 784)
                if thresholded:
                    probabilities = (probabilities > THRESHOLD).float()
                total += probabilities.sum(dim=0, dtype=torch.float64)
            rows.append(total / EXPECTATION_DRAWS)  # (784,)
    return torch.stack(rows).numpy()


def one_hot(y: torch.Tensor) -> torch.Tensor:
    return F.one_hot(y, NUM_CLASSES).float()


THRESHOLD = 0.5
MISTAKES = [  # (explanation, the one-hot the decoder is given, the scale of z, pixels thresholded instead of drawn)
    ("the decoder is not given the label (zeros instead of its one-hot vector): every row draws from the same "
     "mixture of digits", lambda y: torch.zeros(y.shape[0], NUM_CLASSES), 1.0, False),
    ("the one-hot vector is off by one (label y marked at position y + 1): F.one_hot(y, NUM_CLASSES) marks position y",
     lambda y: F.one_hot((y + 1) % NUM_CLASSES, NUM_CLASSES).float(), 1.0, False),
    ("z was not sampled (z = 0, the prior's mean, for every row): draw z from the prior with self.sample_z(n)",
     one_hot, 0.0, False),
    ("every row was drawn for label 0: build the one-hot vector from y", lambda y: one_hot(torch.zeros_like(y)), 1.0,
     False),
    ("the pixels were thresholded at 0.5 instead of drawn: each pixel is 1 with its probability, "
     "torch.bernoulli(probabilities)", one_hot, 1.0, True),
]


@functools.cache
def sample_case(homework: Homework, z_dim: int, seed: int) -> SampleCase:
    model = reference(homework).cvae.CVAE(z_dim=z_dim)
    model.load_state_dict(pretrained_weights(homework, z_dim, seed))
    with torch.no_grad():
        model.dec.net[0].weight[:, :z_dim].mul_(Z_INPUT_SCALE)
    model.eval()
    generator = np.random.default_rng(seed)
    labels = generator.permutation(np.repeat(np.arange(NUM_CLASSES), PER_LABEL)).astype(np.int64)
    expected = expected_probabilities(model, one_hot, 1.0, seed)
    variants = [(text, expected_probabilities(model, label_of, scale, seed, thresholded))
                for text, label_of, scale, thresholded in MISTAKES]
    weights = {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}
    return SampleCase(z_dim, weights, labels, seed % 2**31, expected, variants)
