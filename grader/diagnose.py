"""Name the likely mistake behind a wrong value by comparing it with known wrong variants.

Each catalogue computes, on the same inputs as the check, what the common mistakes of this homework
would return; a student's value that matches one of them gets that mistake's explanation.
"""

from collections.abc import Callable

import numpy as np

Variant = tuple[str, np.ndarray]  # (explanation, the value that mistake produces)
MATCH_RTOL = 1e-3
MATCH_ATOL = 1e-4


def _close(got: np.ndarray, expected: np.ndarray) -> bool:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=MATCH_RTOL, atol=MATCH_ATOL))


def likely_mistake(got: np.ndarray, variants: list[Variant], fallback: str) -> str:
    for explanation, value in variants:
        if _close(got, value):
            return explanation
    return fallback


def kl_variants(qm: np.ndarray, qv: np.ndarray, pm: np.ndarray, pv: np.ndarray) -> list[Variant]:
    """Per-row KL mistakes, each of shape (..., ) like the right answer (float64)."""
    qm, qv, pm, pv = (np.asarray(a, np.float64) for a in (qm, qv, pm, pv))
    qm, qv, pm, pv = np.broadcast_arrays(qm, qv, pm, pv)
    dim = qm.shape[-1]

    def kl(element: Callable[[], np.ndarray]) -> np.ndarray:
        return element().sum(-1)

    right = kl(lambda: 0.5 * (np.log(pv) - np.log(qv) + qv / pv + (qm - pm) ** 2 / pv - 1))
    return [
        ("the factor 0.5 is missing.", 2 * right),
        ("the sign is flipped: KL(q || p) is never negative.", -right),
        ("averaged over the latent dimension instead of summed (use .sum(-1)).", right / dim),
        ("the '- 1' term is missing from each dimension.", right + dim / 2),
        ("this is KL(p || q); the homework needs KL(q || p) (q is the encoder's distribution).",
         kl(lambda: 0.5 * (np.log(qv) - np.log(pv) + pv / qv + (qm - pm) ** 2 / qv - 1))),
        ("the log of the standard deviation was used where the log of the variance belongs.",
         kl(lambda: 0.5 * (0.5 * np.log(pv) - 0.5 * np.log(qv) + qv / pv + (qm - pm) ** 2 / pv - 1))),
        ("the squared mean difference is not divided by the prior variance pv.",
         kl(lambda: 0.5 * (np.log(pv) - np.log(qv) + qv / pv + (qm - pm) ** 2 - 1))),
        ("the variances were treated as standard deviations (squared again).",
         kl(lambda: 0.5 * (np.log(pv**2) - np.log(qv**2) + qv**2 / pv**2 + (qm - pm) ** 2 / pv**2 - 1))),
        ("the variance ratio qv / pv is inverted.",
         kl(lambda: 0.5 * (np.log(pv) - np.log(qv) + pv / qv + (qm - pm) ** 2 / pv - 1))),
    ]


def variance_mistake(sample_variance: np.ndarray, v: np.ndarray) -> str:
    """Explain a sample variance that does not match v (one value per column)."""
    tests = [
        ("there is no noise: z = m. Add sqrt(v) * eps with eps ~ N(0, I).", np.zeros_like(v)),
        ("v was used as a standard deviation (z = m + v * eps); v is the variance, use sqrt(v).", v**2),
        ("v was treated as a log-variance (z = m + exp(v / 2) * eps); here v is the variance itself.", np.exp(v)),
        ("v was ignored (z = m + eps); scale the noise by sqrt(v).", np.ones_like(v)),
        ("the noise was scaled by v ** 0.25 instead of sqrt(v).", np.sqrt(v)),
    ]
    for explanation, expected in tests:
        if np.allclose(sample_variance, expected, rtol=0.1, atol=1e-3):
            return explanation
    return "the noise is not scaled by sqrt(v): z = m + sqrt(v) * eps with eps ~ N(0, I) shaped like m."
