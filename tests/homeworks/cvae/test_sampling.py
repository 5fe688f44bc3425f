"""The statistic behind sample_x's check (grader/homeworks/cvae/sampling.py): a right sampler scores about 1, well
under the bound, whatever seed draws its noise; samples drawn from each listed mistake's distribution score above it.
"""

import numpy as np
import pytest
import torch

from grader.engine.oracle import reference
from grader.homeworks.cvae.sampling import (
    MAX_MEAN_SQUARED_DEVIATION,
    MISTAKES,
    PER_LABEL,
    mean_squared_deviation,
    pixel_means,
    sample_case,
)
from tests.homeworks.cvae.conftest import CVAE

CASE_SEEDS = (11, 12)
SAMPLER_SEEDS = range(10)


def reference_sampler_scores(case_seed: int) -> list[float]:
    case = sample_case(CVAE, 10, case_seed)
    model = reference(CVAE).cvae.CVAE(z_dim=case.z_dim)
    model.load_state_dict({name: torch.from_numpy(value) for name, value in case.weights.items()})
    labels = torch.from_numpy(case.labels)
    scores = []
    for seed in SAMPLER_SEEDS:
        torch.manual_seed(seed)
        with torch.no_grad():
            images = model.sample_x(labels).numpy()  # (NUM_CLASSES * PER_LABEL, 784)
        scores.append(mean_squared_deviation(pixel_means(case.labels, images), case.expected, PER_LABEL))
    return scores


@pytest.mark.parametrize("case_seed", CASE_SEEDS)
def test_the_reference_sampler_scores_about_one(case_seed: int) -> None:
    scores = reference_sampler_scores(case_seed)
    assert max(scores) < MAX_MEAN_SQUARED_DEVIATION / 2, scores
    assert 0.85 < float(np.mean(scores)) < 1.15, scores


@pytest.mark.parametrize("case_seed", CASE_SEEDS)
def test_samples_from_every_mistake_fail_and_are_named(case_seed: int) -> None:
    case = sample_case(CVAE, 10, case_seed)
    assert len(case.variants) == len(MISTAKES)
    generator = np.random.default_rng(case_seed)
    for index, (text, probabilities) in enumerate(case.variants):
        per_row = probabilities[case.labels]  # (NUM_CLASSES * PER_LABEL, 784)
        images = (generator.random(per_row.shape) < per_row).astype(np.float32)
        means = pixel_means(case.labels, images)
        assert mean_squared_deviation(means, case.expected, PER_LABEL) > 1.5 * MAX_MEAN_SQUARED_DEVIATION, text
        scores = [mean_squared_deviation(means, expected, PER_LABEL) for _, expected in case.variants]
        assert int(np.argmin(scores)) == index, (text, scores)
        assert scores[index] <= MAX_MEAN_SQUARED_DEVIATION, (text, scores)
