"""The inputs of the IWAE bound's checks: the reference values they compare with, the wrong variants they name, and
the grader's noise, which depends on the image and the sample, never on how the samples are laid out."""

import math

import numpy as np
import pytest
import torch

from grader.homeworks.vae_iwae import worker_ops
from grader.homeworks.vae_iwae.checks import test_negative_iwae_bound as checks
from tests.homeworks.vae_iwae.conftest import IWAE

SEEDS = (11, 12, 13)
DISTINCT_TOLERANCES = 3.0  # a named wrong value lies at least this many tolerances from the right one
Z_DIM, BATCH, IW = 3, 5, 4


def tolerance(value: float) -> float:
    return checks.NIWAE_TOLERANCE["atol"] + checks.NIWAE_TOLERANCE["rtol"] * abs(value)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_named_mistake_of_the_main_case_is_far_from_the_right_value(seed):
    case = checks.iwae_case(IWAE, *checks.MAIN, seed, seed)
    assert math.isfinite(case.niwae) and -400 < case.mean_log_weight < -100
    too_close = {explanation[:60]: float(value) for explanation, value in case.niwae_variants
                 if abs(float(value) - case.niwae) < DISTINCT_TOLERANCES * tolerance(case.niwae)}
    assert too_close == {}
    without_mean = next(float(value) for explanation, value in case.niwae_variants if "without the 1/iw" in explanation)
    assert case.niwae - without_mean == pytest.approx(math.log(case.iw), abs=1e-3), (
        "the variants are computed from the same log-weights as the reference's bound")


def test_the_stability_case_underflows_a_naive_bound_even_in_float64():
    seed = SEEDS[0]
    case = checks.iwae_case(IWAE, *checks.STABLE, seed, seed, checks.STABLE_DECODER_OUTPUT_SCALE)
    assert case.mean_log_weight < -746 and math.isfinite(case.niwae)
    assert np.exp(np.float64(case.mean_log_weight)) == 0.0


def test_cases_with_the_same_seed_share_weights_images_and_first_samples():
    seed = SEEDS[0]
    ten, one = checks.iwae_case(IWAE, *checks.MAIN, seed, seed), checks.iwae_case(IWAE, 10, 100, 1, seed, seed)
    assert all(np.array_equal(ten.weights[name], one.weights[name]) for name in ten.weights)
    assert np.array_equal(ten.x, one.x) and np.array_equal(ten.epsilon[:1], one.epsilon)
    assert one.niwae == pytest.approx(one.niwae_one_sample, abs=1e-3)


def noise_fixture() -> worker_ops.ControlledNoise:
    generator = torch.Generator().manual_seed(0)
    qm = torch.randn(BATCH, Z_DIM, generator=generator) * 3  # well apart: each row is its image's
    epsilon = torch.randn(IW, BATCH, Z_DIM, generator=generator)
    return worker_ops.ControlledNoise(epsilon, qm, extra_seed=5)


def test_the_grader_noise_is_the_same_for_every_layout_of_the_samples():
    noise = noise_fixture()
    qm, epsilon = noise.qm, noise.epsilon
    copies = noise.noise(qm.repeat(IW, 1)).reshape(IW, BATCH, Z_DIM)  # ut.duplicate: copy after copy
    noise.reset()
    by_image = noise.noise(qm.repeat_interleave(IW, 0)).reshape(BATCH, IW, Z_DIM).transpose(0, 1)
    noise.reset()
    three_dimensional = noise.noise(qm.expand(IW, BATCH, Z_DIM))
    noise.reset()
    one_call_per_sample = torch.stack([noise.noise(qm) for _ in range(IW)])
    for layout in (copies, by_image, three_dimensional, one_call_per_sample):
        assert torch.equal(layout, epsilon)


def test_draws_beyond_iw_are_fresh_and_the_elbo_noise_draws_nothing():
    noise = noise_fixture()
    assert torch.equal(noise.first_noise(noise.qm), noise.epsilon[0])
    draws = [noise.noise(noise.qm) for _ in range(IW + 1)]
    assert torch.equal(draws[0], noise.epsilon[0]), "first_noise must not count as a draw"
    assert not any(torch.allclose(draws[-1], noise.epsilon[k]) for k in range(IW))
    noise.reset()
    again = [noise.noise(noise.qm) for _ in range(IW + 1)]
    assert torch.equal(again[-1], draws[-1]), "a reset replays the same draws"
