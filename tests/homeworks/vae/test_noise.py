"""Check 1.2's statistical tests: critical values from the stated false-fail probability, the reference's measured
rate where a rate can be measured, and each kind of wrong noise caught by the test and named by the mistake it is."""

import math

import numpy as np
import pytest

from grader.homeworks.vae import noise

CALIBRATION_SEEDS = range(150)
LOOSE_LEVEL = 0.5  # random tests designed for a false-fail probability of 0.25: a rate 150 gradings can measure
SHAPE = (noise.ROWS, noise.COLUMNS)
M, V = np.broadcast_to(noise.MEANS, SHAPE), np.broadcast_to(noise.VARIANCES, SHAPE)


def test_the_critical_values_follow_from_the_stated_false_fail_probability():
    limits = noise.thresholds()
    assert noise.FALSE_FAIL <= 1e-6
    assert limits.alpha * noise.TESTS == pytest.approx(noise.FALSE_FAIL * noise.DESIGN_SHARE)
    assert math.erfc(limits.z / math.sqrt(2.0)) == pytest.approx(limits.alpha, rel=1e-6)  # two-sided normal tail
    assert 2 * math.exp(-2 * noise.ROWS * noise.COLUMNS * limits.ks**2) == pytest.approx(limits.alpha)  # DKW
    assert noise.normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)


def test_the_references_false_fail_rate_is_what_the_thresholds_promise():
    failures = noise.false_fail_rate(CALIBRATION_SEEDS, (LOOSE_LEVEL, noise.FALSE_FAIL))
    loose = sum(failures[LOOSE_LEVEL].values())
    # Bonferroni over 27 nearly independent tests at 0.25 / 27 each: a rate just under 0.22 (about 33 of 150, sd 5)
    assert 15 <= loose <= 50, failures
    assert failures[noise.FALSE_FAIL] == {}
    assert set(failures[LOOSE_LEVEL]) <= {"mean", "variance", "normal", "columns", "serial", "calls"}


def draws(make_noise) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    return tuple(M + np.sqrt(V) * make_noise(rng) for _ in range(2))


@pytest.mark.parametrize("name, make_noise, test, mistake", [
    ("uniform, rescaled", lambda rng: (rng.random(SHAPE) - 0.5) * math.sqrt(12.0), "normal",
     "sg_uniform_matched_moments"),
    ("Laplace of variance 1", lambda rng: rng.laplace(0.0, 0.5**0.5, SHAPE), "normal", "sg_heavy_tailed_noise"),
    ("Rademacher", lambda rng: rng.integers(0, 2, SHAPE) * 2.0 - 1.0, "normal", "sg_discrete_noise"),
    ("one vector for every row", lambda rng: np.broadcast_to(rng.standard_normal(noise.COLUMNS), SHAPE), "rows",
     "sg_noise_shared_across_batch"),
    ("one value per row", lambda rng: np.broadcast_to(rng.standard_normal((noise.ROWS, 1)), SHAPE), "columns",
     "sg_noise_shared_across_dims"),
    ("antithetic rows", lambda rng: np.concatenate([half := rng.standard_normal((noise.ROWS // 2, noise.COLUMNS)),
                                                    -half]), "repeated", "sg_rows_repeated"),
    ("uniform on [0, 1)", lambda rng: rng.random(SHAPE), "mean", "sg_uniform_noise"),
])
def test_wrong_noise_fails_the_test_that_names_it(name, make_noise, test, mistake):
    first, second = draws(make_noise)
    finding = noise.examine(first, second, first_seed=0)
    assert finding is not None, name
    assert (finding.test, finding.diagnosis.mistakes) == (test, (mistake,)), finding


def test_noise_kept_from_the_first_call_and_a_reseeded_generator_are_told_apart():
    seed = 1234567
    kept = M + np.sqrt(V) * noise.noise_under_seed(seed, SHAPE)  # what a right first call draws after that seed
    assert noise.examine(kept, kept, seed).diagnosis.mistakes == ("sg_noise_reused_across_calls",)
    reseeded = M + np.sqrt(V) * noise.noise_under_seed(0, SHAPE)
    finding = noise.examine(reseeded, reseeded.copy(), seed)
    assert (finding.test, finding.diagnosis.mistakes) == ("calls", ("sg_reseeds_generator",))
    other = M + np.sqrt(V) * noise.noise_under_seed(987654321, SHAPE)
    unknown = noise.examine(other, other.copy(), seed).diagnosis
    assert unknown.mistakes == () and len(unknown.guesses) == 2


def test_partly_reused_noise_across_calls_is_caught_by_its_correlation():
    rng = np.random.default_rng(9)
    first_noise, fresh = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    first, second = M + np.sqrt(V) * first_noise, M + np.sqrt(V) * (0.3 * first_noise + math.sqrt(0.91) * fresh)
    finding = noise.examine(first, second, first_seed=0)
    assert finding is not None and finding.test == "calls" and finding.diagnosis.mistakes == ()
