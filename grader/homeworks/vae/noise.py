"""Is sample_gaussian's noise standard normal, and independent across rows, columns and calls? The statistical tests
of check 1.2, with critical values derived from a stated false-fail probability.

Check 1.2 calls sample_gaussian twice on m, v of shape (ROWS, 5) (five columns of different means and variances),
with torch's generator seeded differently before each call, and standardizes both samples: u = (z - m) / sqrt(v)
must be independent N(0, 1) values. The tests, in order (the first that fails is reported):

* exact properties a correct sample has with probability 1: finite values, noise present, rows not all equal, no
  more than 1 % of the rows repeated (up to sign: a correct sample repeats none), the second call not returning the
  first call's noise;
* TESTS random ones, each at level ALPHA = FALSE_FAIL * DESIGN_SHARE / TESTS (Bonferroni, so together they fail a
  correct implementation with probability at most FALSE_FAIL * DESIGN_SHARE; the rest of FALSE_FAIL covers the
  error of the normal approximations below, under 2 % of each test's level at these sample sizes):
  - the mean of each column, within Z standard errors of m (its standard error from the larger of the sample's
    variance and v, so that a wrong variance is reported as such: a conservative test);
  - the variance of each column: (n - 1) s^2 / v is chi-square with n - 1 degrees of freedom, tested through the
    Wilson-Hilferty cube root, which is normal to within 1e-3 relative error in the tails at n = 20,000;
  - normality of all ROWS * 5 standardized values: the Kolmogorov-Smirnov distance to the standard normal's
    distribution function, against the Dvoretzky-Kiefer-Wolfowitz bound P(D > eps) <= 2 exp(-2 N eps^2) (Massart's
    constant: exact, no approximation);
  - independence across columns: the 10 correlations between columns (Fisher's z, sqrt(n - 3) atanh(r));
  - independence across rows: the correlation of each column with itself one row later (lag-1);
  - independence across calls: the correlation of the two calls' standardized noises.

The measured false-fail rate of the reference is in ``false_fail_rate`` (a test runs it at a loose level where a rate
can be measured; ``python -m grader.homeworks.vae.noise --seeds N`` at the stated one). Measured over 20,000 seeds
(two reference samples of 20,000 x 5 each): 0 failures at the stated 1e-6; at levels built for 5e-3 and 5e-2, 111
(0.0056) and 942 (0.047) failures, as the thresholds promise.
"""

import argparse
import math
from dataclasses import dataclass

import numpy as np
import torch

from grader.homeworks.vae.diagnose import Diagnosis, moments_explanation

FALSE_FAIL = 1e-6  # the probability that a correct sample_gaussian fails check 1.2, at most
DESIGN_SHARE = 0.5  # the random tests are designed for this share of FALSE_FAIL; the rest covers approximation error
ROWS = 20_000
MEANS = np.array([-2.0, 0.0, 0.5, 3.0, 1.0])
VARIANCES = np.array([0.25, 1.0, 4.0, 0.01, 2.5])
COLUMNS = len(MEANS)
TESTS = COLUMNS + COLUMNS + 1 + COLUMNS * (COLUMNS - 1) // 2 + COLUMNS + 1  # means, variances, KS, pairs, lag-1, calls
REPEAT_DECIMALS = 8  # standardized rows equal to 8 decimals (up to sign) are one row repeated
REPEATED_SHARE = 0.01  # more than this share of rows repeated is noise reused (a correct sample repeats none; noise
# that is right in each column but shared across a row's coordinates may repeat a value by chance)
FEW_VALUES = 32  # noise with at most this many distinct values is discrete
UNIFORM_BOUND = math.sqrt(3.0)  # a uniform noise of variance 1 lies in [-sqrt(3), sqrt(3)]
UNIFORM_KURTOSIS = 1.8
LAPLACE_KURTOSIS = 6.0
KURTOSIS_MARGIN = (0.15, 1.5)  # how near the sample's kurtosis must be to the uniform's and to the Laplace's
SEEDS_STUDENTS_USE = (0, 1, 2, 3, 4, 5, 7, 10, 42, 100, 123, 236, 1000, 1234, 2019, 2020, 2021, 2022, 2023, 2024, 2025,
                      12345, 31415, 999, 9999)


def normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on math.erfc (scipy is not available)."""
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if 0.5 * math.erfc(-middle / math.sqrt(2.0)) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class Thresholds:
    alpha: float  # the level of each random test
    z: float  # the two-sided normal critical value at that level
    ks: float  # the largest Kolmogorov-Smirnov distance for ROWS * COLUMNS values at that level


def thresholds(false_fail: float = FALSE_FAIL, rows: int = ROWS) -> Thresholds:
    alpha = false_fail * DESIGN_SHARE / TESTS
    ks = math.sqrt(math.log(2.0 / alpha) / (2.0 * rows * COLUMNS))
    return Thresholds(alpha, normal_quantile(1.0 - alpha / 2.0), ks)


@dataclass(frozen=True)
class Finding:
    """The first test a sample fails: what the check says."""

    test: str  # finite, noise, rows, mean, variance, normal, repeated, columns, serial, calls
    summary: str
    expected: str
    got: str
    diagnosis: Diagnosis


def standard_normal_cdf(values: np.ndarray) -> np.ndarray:
    return torch.special.ndtr(torch.from_numpy(np.asarray(values, np.float64))).numpy()


def ks_distance(values: np.ndarray) -> float:
    """sup |F_n - Phi| of the values (the Kolmogorov-Smirnov statistic against the standard normal)."""
    ordered = np.sort(np.asarray(values, np.float64).ravel())
    n = ordered.size
    cdf = standard_normal_cdf(ordered)
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - cdf), np.max(cdf - (steps - 1.0 / n))))


def fisher(r: np.ndarray | float, n: int) -> np.ndarray:
    """|sqrt(n - 3) atanh(r)|: a correlation of n independent normal pairs on the standard normal scale."""
    return np.abs(np.sqrt(n - 3) * np.arctanh(np.clip(np.asarray(r, np.float64), -0.999999999, 0.999999999)))


def lag_one_correlations(u: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(u[:-1, k], u[1:, k])[0, 1] for k in range(u.shape[1])])


def noise_under_seed(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The standard normal noise torch.randn_like draws for a float64 tensor of ``shape`` right after
    torch.manual_seed(seed)."""
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).numpy()


def _repeated_rows(u: np.ndarray) -> int:
    """How many rows equal an earlier one up to sign (to REPEAT_DECIMALS): rows sorted by a key that equal rows
    share, then compared with their neighbour (faster than np.unique over rows)."""
    rounded = np.round(np.abs(u), REPEAT_DECIMALS)
    key = rounded @ np.sqrt(np.arange(2.0, 2.0 + u.shape[1]))
    ordered = rounded[np.argsort(key, kind="stable")]
    return int(np.sum(np.all(ordered[1:] == ordered[:-1], axis=1)))


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(values, 3).tolist()


def non_normal_diagnosis(u: np.ndarray, distance: float) -> Diagnosis:
    """Name the noise's distribution from its shape: a few values, bounded like a uniform, or Laplace-like tails."""
    flat = u.ravel()
    distinct = np.unique(np.round(flat, 6))
    centred = flat - flat.mean()
    variance = float(np.mean(centred**2))
    kurtosis = float(np.mean(centred**4) / variance**2) if variance > 0 else math.nan
    skewness = float(np.mean(centred**3) / variance**1.5) if variance > 0 else math.nan
    observed = (f"the standardized noise (z - m) / sqrt(v) is {distance:.3f} from N(0, 1) in Kolmogorov-Smirnov "
                f"distance; skewness {skewness:.2f} (normal: 0), kurtosis {kurtosis:.2f} (normal: 3)")
    fix = "draw eps = torch.randn_like(m), standard normal, and return m + torch.sqrt(v) * eps."
    if distinct.size <= FEW_VALUES:
        shown = ", ".join(f"{value:.3g}" for value in distinct[:6]) + (", ..." if distinct.size > 6 else "")
        return Diagnosis(("sg_discrete_noise",), observed=f"{observed}; its only values: {shown}", fix=fix)
    if np.max(np.abs(flat)) <= UNIFORM_BOUND * (1 + 1e-6) and abs(kurtosis - UNIFORM_KURTOSIS) < KURTOSIS_MARGIN[0]:
        return Diagnosis(("sg_uniform_matched_moments",), observed=observed, fix=fix)
    if abs(kurtosis - LAPLACE_KURTOSIS) < KURTOSIS_MARGIN[1]:
        return Diagnosis(("sg_heavy_tailed_noise",), observed=observed, fix=fix)
    return Diagnosis(observed=observed, guesses=(
        "noise drawn from another distribution than the standard normal (torch.rand_like, torch.distributions other "
        "than Normal, a sum or product of random numbers)", "noise transformed after drawing it"), fix=fix)


def same_noise_diagnosis(u: np.ndarray, first_seed: int) -> Diagnosis:
    """Two calls returned the same noise: the first call's noise kept, or the generator re-seeded inside."""
    if np.allclose(u, noise_under_seed(first_seed, u.shape), atol=1e-6):
        return Diagnosis(("sg_noise_reused_across_calls",),
                         observed="the second call returned exactly the noise the first call drew")
    for seed in SEEDS_STUDENTS_USE:
        if np.allclose(u, noise_under_seed(seed, u.shape), atol=1e-6):
            return Diagnosis(("sg_reseeds_generator",),
                             observed=f"both calls drew the noise torch.manual_seed({seed}) gives")
    return Diagnosis(guesses=(
        "torch's generator is re-seeded inside the function (torch.manual_seed), so every call draws the same noise",
        "the noise of an earlier call is returned again (kept in a global, a default argument or an attribute)"),
        fix="draw eps = torch.randn_like(m) from the global generator on every call; never seed it there.")


def examine(first: np.ndarray, second: np.ndarray, first_seed: int, limits: Thresholds | None = None) -> Finding | None:
    """The first test that the two samples (z of shape (ROWS, COLUMNS) drawn on MEANS, VARIANCES, the first after
    torch.manual_seed(first_seed)) fail, or None when they pass every test."""
    limits = limits or thresholds(rows=first.shape[0])
    m = np.broadcast_to(MEANS, first.shape)
    rows = first.shape[0]
    if not (np.all(np.isfinite(first)) and np.all(np.isfinite(second))):
        return Finding("finite", "sample_gaussian returned NaN or infinity.", "finite samples",
                       "NaN or infinity in the sample", Diagnosis(guesses=(
                           "a square root of a negative number", "a division by zero")))
    if np.allclose(first, m, rtol=0.0, atol=1e-7):
        return Finding("noise", "The samples are m itself.", f"variances close to {VARIANCES.tolist()}", "variances 0",
                       Diagnosis(("sg_no_noise",)))
    if np.all(first == first[:1]):
        return Finding("rows", "Every row of the sample is the same.", "independent noise for every row of the batch",
                       f"{rows:,} identical rows, e.g. {_rounded(first[0])}",
                       Diagnosis(("sg_noise_shared_across_batch",)))
    means, variances = first.mean(axis=0), first.var(axis=0, ddof=1)
    mean_tolerance = limits.z * np.sqrt(np.maximum(variances, VARIANCES) / rows)
    observed = f"{rows:,} samples per column; means {_rounded(means)}, variances {_rounded(variances)}"
    fix = "z = m + torch.sqrt(v) * eps with eps = torch.randn_like(m), standard normal noise of m's shape."
    if np.any(np.abs(means - MEANS) > mean_tolerance):
        explanation = moments_explanation(means, variances, MEANS, VARIANCES, mean_tolerance)
        diagnosis = explanation.diagnosis(fix).adding(observed=observed)
        if not explanation.matches:
            diagnosis = diagnosis.adding(guesses=("noise that is not centred on 0 (torch.rand_like is uniform on "
                                                  "[0, 1))", "the mean shifted or scaled"))
        return Finding("mean", "The samples' means are not m.", f"means close to {MEANS.tolist()}",
                       f"means {_rounded(means)}", diagnosis)
    degrees = rows - 1
    cube_root_scale = 2.0 / (9.0 * degrees)
    wilson_hilferty = ((variances / VARIANCES) ** (1.0 / 3.0) - (1.0 - cube_root_scale)) / math.sqrt(cube_root_scale)
    if np.any(np.abs(wilson_hilferty) > limits.z):
        explanation = moments_explanation(means, variances, MEANS, VARIANCES, mean_tolerance)
        diagnosis = explanation.diagnosis(fix).adding(observed=observed)
        if not explanation.matches:
            diagnosis = diagnosis.adding(guesses=("the noise is not scaled by sqrt(v)",
                                                  "noise that is not of variance 1"))
        return Finding("variance", "The samples' variances are not v.", f"variances close to {VARIANCES.tolist()}",
                       f"variances {_rounded(variances)}", diagnosis)
    u = (first - MEANS) / np.sqrt(VARIANCES)
    distance = ks_distance(u)
    if distance > limits.ks:
        return Finding("normal", "The noise is not standard normal, though its mean and variance are right.",
                       f"(z - m) / sqrt(v) distributed as N(0, 1): Kolmogorov-Smirnov distance at most {limits.ks:.4f}",
                       f"distance {distance:.4f}", non_normal_diagnosis(u, distance))
    pairs = np.triu_indices(COLUMNS, 1)
    correlations = np.corrcoef(u, rowvar=False)[pairs]
    if np.any(fisher(correlations, rows) > limits.z):
        worst = float(correlations[np.argmax(np.abs(correlations))])
        diagnosis = (Diagnosis(("sg_noise_shared_across_dims",)) if abs(worst) > 0.999 else Diagnosis(
            observed=f"correlation {worst:.3f} between two columns of the noise",
            guesses=("noise shared between some coordinates of a row", "noise computed from other noise"),
            fix="draw eps with m's full shape: torch.randn_like(m)."))
        return Finding("columns", "The coordinates of a sample are correlated.",
                       "independent noise in every coordinate", f"correlations up to {abs(worst):.3f}", diagnosis)
    repeated = _repeated_rows(u)
    if repeated > REPEATED_SHARE * rows:
        return Finding("repeated", "Rows of the noise repeat.", "independent noise for every row of the batch",
                       f"{repeated:,} of {rows:,} rows repeat an earlier row (up to sign)",
                       Diagnosis(("sg_rows_repeated",)))
    serial = lag_one_correlations(u)
    if np.any(fisher(serial, rows - 1) > limits.z):
        worst = float(serial[np.argmax(np.abs(serial))])
        return Finding("serial", "Each row's noise depends on the row before.",
                       "independent noise in every row", f"correlation {worst:.3f} between consecutive rows",
                       Diagnosis(guesses=("noise reused or accumulated along the batch (a cumulative sum, a shift, "
                                          "a rolled copy)",),
                                 fix="draw eps = torch.randn_like(m) for the whole batch."))
    if np.array_equal(first, second):
        return Finding("calls", "Two calls drew exactly the same noise.", "a new sample on every call",
                       "the same sample twice", same_noise_diagnosis(u, first_seed))
    u_second = (second - MEANS) / np.sqrt(VARIANCES)
    across = float(np.corrcoef(u.ravel(), u_second.ravel())[0, 1])
    if fisher(across, u.size) > limits.z:
        return Finding("calls", "The noise of two calls is correlated.", "independent noise on every call",
                       f"correlation {across:.3f} between the two calls' noise",
                       Diagnosis(guesses=("part of the noise is kept from the previous call",
                                          "the generator is re-seeded inside the function"),
                                 fix="draw eps = torch.randn_like(m) from the global generator on every call."))
    return None


# -- the reference's false-fail rate ---------------------------------------------------------------------------------


def reference_samples(seed: int, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of the reference's sample_gaussian, drawn as check 1.2 draws them (seeds ``seed`` and
    ``seed + 1``)."""
    from grader.engine.homework import load_homework
    from grader.engine.oracle import reference

    sample = reference(load_homework("vae")).utils.sample_gaussian
    m = torch.from_numpy(np.broadcast_to(MEANS, (rows, COLUMNS)).copy())
    v = torch.from_numpy(np.broadcast_to(VARIANCES, (rows, COLUMNS)).copy())
    draws = []
    for offset in (0, 1):
        torch.manual_seed(seed + offset)
        draws.append(sample(m, v).numpy())
    return draws[0], draws[1]


def false_fail_rate(seeds: range, levels: tuple[float, ...] = (FALSE_FAIL,)) -> dict[float, dict[str, int]]:
    """For each false-fail level, how many of the reference's gradings (one per seed) fail check 1.2's tests at that
    level, by test."""
    limits = {level: thresholds(level) for level in levels}
    failures: dict[float, dict[str, int]] = {level: {} for level in levels}
    for seed in seeds:
        first, second = reference_samples(seed)
        for level, limit in limits.items():
            finding = examine(first, second, seed, limit)
            if finding is not None:
                failures[level][finding.test] = failures[level].get(finding.test, 0) + 1
    return failures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10_000, help="gradings of the reference to simulate")
    parser.add_argument("--levels", type=float, nargs="*", default=[FALSE_FAIL, 1e-2, 1e-1],
                        help="false-fail probabilities to measure at")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = range(arguments.seeds)
    for level, by_test in false_fail_rate(seeds, tuple(arguments.levels)).items():
        failed = sum(by_test.values())
        print(f"level {level:g} (random tests designed for {level * DESIGN_SHARE:g}): {failed} of {len(seeds)} "
              f"reference gradings fail, rate {failed / len(seeds):.3g} {by_test or ''}")


if __name__ == "__main__":
    main()
