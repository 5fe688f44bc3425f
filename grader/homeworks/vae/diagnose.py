"""Name the likely mistake behind a wrong value by comparing it with known wrong variants.

Each catalogue computes, on the same inputs as the check, what the common mistakes of this homework
would return; a student's value that matches one of them gets that mistake's explanation.
"""

from collections.abc import Callable

import numpy as np

Variant = tuple[str, np.ndarray]  # (explanation, the value that mistake produces)
MATCH_RTOL = 1e-3
MATCH_ATOL = 1e-4
LOG_CONSTANTS = (1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)  # "safety" constants students add inside a log


def _close(got: np.ndarray, expected: np.ndarray, rtol: float = MATCH_RTOL, atol: float = MATCH_ATOL) -> bool:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=atol))


def likely_mistake(got: np.ndarray, variants: list[Variant], fallback: str, rtol: float = MATCH_RTOL,
                   atol: float = MATCH_ATOL) -> str:
    """The explanation of the first variant whose value ``got`` matches, else ``fallback``."""
    for explanation, value in variants:
        if _close(got, value, rtol, atol):
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
        ("the log-ratio has the wrong sign: it is log(pv) - log(qv), the log of the prior's variance first.",
         kl(lambda: 0.5 * (np.log(qv) - np.log(pv) + qv / pv + (qm - pm) ** 2 / pv - 1))),
        ("the mean difference (qm - pm) is not squared.",
         kl(lambda: 0.5 * (np.log(pv) - np.log(qv) + qv / pv + (qm - pm) / pv - 1))),
        ("pm and pv were ignored: this is the closed form for a N(0, 1) prior only; use the given pm and pv "
         "(the prior is not always standard normal).",
         kl(lambda: 0.5 * (-np.log(qv) + qv + qm**2 - 1))),
        *[(f"a constant ({constant:g}) was added inside the logs; the variances are already positive, "
           "use torch.log(qv) and torch.log(pv) as they are.",
           kl(lambda c=constant: 0.5 * (np.log(pv + c) - np.log(qv + c) + qv / pv + (qm - pm) ** 2 / pv - 1)))
          for constant in LOG_CONSTANTS],
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


def moments_mistake(means: np.ndarray, variances: np.ndarray, m: np.ndarray, v: np.ndarray) -> str:
    """Explain sample means that are not m (one value per column), from the means and variances together."""
    uniform_means, uniform_variances = m + 0.5 * np.sqrt(v), v / 12  # z = m + sqrt(v) * U[0, 1)
    if (np.allclose(means, uniform_means, rtol=0.05, atol=0.02)
            and np.allclose(variances, uniform_variances, rtol=0.1, atol=1e-3)):
        return ("the noise is uniform on [0, 1) (torch.rand_like); draw standard normal noise with "
                "torch.randn_like(m).")
    return "z must be centred on m: z = m + sqrt(v) * eps with eps ~ N(0, I) (torch.randn_like(m))."
